// A shared library without the edgeopt_plugin_info entry point.
extern "C" int edgeopt_test_not_a_plugin() { return 42; }
