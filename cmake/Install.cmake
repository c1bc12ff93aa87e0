# The EdgeOpt SDK: headers, libedgeopt_core, edgeopt-run, the built-in plugins
# and a CMake package, so that out-of-tree plugins build with
#   find_package(EdgeOpt REQUIRED)
#   edgeopt_add_plugin(my_plugin SOURCES my_plugin.cpp)
include(CMakePackageConfigHelpers)
set(EDGEOPT_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/EdgeOpt)

install(EXPORT EdgeOptTargets NAMESPACE EdgeOpt:: DESTINATION ${EDGEOPT_CMAKE_INSTALL_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/EdgeOptConfig.cmake.in
  ${PROJECT_BINARY_DIR}/EdgeOptConfig.cmake
  INSTALL_DESTINATION ${EDGEOPT_CMAKE_INSTALL_DIR}
  PATH_VARS EDGEOPT_PLUGIN_INSTALL_DIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/EdgeOptConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/EdgeOptConfig.cmake
  ${PROJECT_BINARY_DIR}/EdgeOptConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/EdgeOptPlugin.cmake
  DESTINATION ${EDGEOPT_CMAKE_INSTALL_DIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/plugin-template/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/edgeopt/plugin-template)
