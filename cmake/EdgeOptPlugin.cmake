# edgeopt_add_plugin(<name> SOURCES <src>... [LIBRARIES <lib>...] [OUTPUT_DIR <dir>] [NO_INSTALL])
#
# Builds the EdgeOpt plugin <name> as the loadable module libedgeopt_<name>.so.
# The plugin host checks that the name a plugin reports equals this basename, so
# EDGEOPT_PLUGIN_NAME is defined for the sources (EDGEOPT_PLUGIN uses it).
# Used in-tree and, installed with the SDK, by out-of-tree plugins alike.
function(edgeopt_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "edgeopt_add_plugin(${name}): SOURCES is required")
  endif()
  set(target edgeopt_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE EdgeOpt::core ${ARG_LIBRARIES})
  target_compile_definitions(${target} PRIVATE EDGEOPT_PLUGIN_NAME="${name}")
  set_target_properties(${target} PROPERTIES PREFIX "lib")
  if(ARG_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  elseif(DEFINED EDGEOPT_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${EDGEOPT_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT ARG_NO_INSTALL AND DEFINED EDGEOPT_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${EDGEOPT_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
