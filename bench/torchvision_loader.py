"""The bench_loader pipeline in torchvision, for the side-by-side ratio:
ImageFolder (PIL decode) + RandomResizedCrop(224) + RandomHorizontalFlip +
ToTensor + Normalize, torch DataLoader with persistent worker processes (its
best case: no per-epoch fork). Prints "images_per_s <x>" (timed epochs) and
"cpu_ms_per_image <y>" (CPU of this process and its workers over all epochs,
warm-up included: less sensitive to other load on the machine than wall time).
Usage: torchvision_loader.py ROOT WORKERS EPOCHS BATCH
"""
import gc
import resource
import sys
import time

import torch
from torchvision import datasets, transforms


def main():
    root, workers, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)  # the C++ side's consumer does no tensor work either
    tf = transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    ds = datasets.ImageFolder(root + "/train", tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in dl:  # warm-up: page cache, worker start
        pass
    n = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, _ in dl:
            n += x.shape[0]
    rate = n / (time.perf_counter() - t0)
    total = n + len(ds)
    del dl  # joins the workers, so their CPU time shows in RUSAGE_CHILDREN
    gc.collect()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (me.ru_utime + me.ru_stime - cpu0.ru_utime - cpu0.ru_stime) + kids.ru_utime + kids.ru_stime
    print(f"images_per_s {rate:.1f}")
    print(f"cpu_ms_per_image {1000 * cpu / total:.3f}")


if __name__ == "__main__":
    main()
