#pragma once
#include <edgeopt/registry.h>

namespace edgeopt::plugins {

ExporterFactory checkpointExporterFactory();
ModelSourceFactory checkpointSourceFactory();
StageFactory exportStageFactory();

}  // namespace edgeopt::plugins
