#pragma once
// The built-in tasks behind makeTrainTask (train_task.h).
#include <edgeopt/train_task.h>

namespace edgeopt {

std::unique_ptr<TrainTask> makeClassificationTask(const TaskOptions& options);
std::unique_ptr<TrainTask> makeDetectionTask(const TaskOptions& options);

}  // namespace edgeopt
