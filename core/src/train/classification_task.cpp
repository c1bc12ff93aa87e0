// Classification loss and evaluation.
#include <edgeopt/data_loader.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/trainer.h>

#include <ATen/ATen.h>

namespace edgeopt {

at::Tensor crossEntropy(const at::Tensor& logits, const at::Tensor& labels, double label_smoothing) {
  return at::cross_entropy_loss(logits, labels, /*weight=*/{}, at::Reduction::Mean, /*ignore_index=*/-100,
                                label_smoothing);
}

EvalResult evaluateClassifier(GraphModule& model, DataLoader& loader, int64_t max_batches) {
  const bool was_training = model.isTraining();
  model.eval();
  at::NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0, correct1 = 0, correct5 = 0;
  int64_t classes = 0, batches = 0;
  loader.startEpoch(0);
  while (auto batch = loader.next()) {
    const at::Tensor logits = model.forward({batch->images})[0];
    const at::Tensor& labels = batch->labels;
    const int64_t n = labels.size(0);
    classes = logits.size(1);
    loss_sum += at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum).item<double>();
    const int64_t k = std::min<int64_t>(5, classes);
    const at::Tensor top = std::get<1>(logits.topk(k, 1));
    const at::Tensor hit = top.eq(labels.unsqueeze(1));
    correct1 += hit.narrow(1, 0, 1).sum().item<double>();
    correct5 += hit.sum().item<double>();
    r.count += n;
    if (max_batches > 0 && ++batches >= max_batches) break;
  }
  model.train(was_training);
  if (r.count == 0) return r;
  r.loss = loss_sum / static_cast<double>(r.count);
  r.top1 = 100.0 * correct1 / static_cast<double>(r.count);
  r.top5 = classes >= 5 ? 100.0 * correct5 / static_cast<double>(r.count) : 0.0;
  return r;
}

}  // namespace edgeopt
