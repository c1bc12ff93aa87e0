// A library whose entry symbol is the data pointer EDGEOPT_PLUGIN exports,
// but null (as a hand-written or half-stripped entry point could leave it).
#include <boost/config.hpp>

extern "C" {
BOOST_SYMBOL_EXPORT const void* edgeopt_plugin_info = nullptr;
}
