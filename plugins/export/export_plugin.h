#pragma once
#include <edgeopt/registry.h>

namespace edgeopt::plugins {

ExporterFactory checkpointExporterFactory();
StageFactory exportStageFactory();

}  // namespace edgeopt::plugins
