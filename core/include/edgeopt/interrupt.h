#pragma once
// Ctrl-C as a request, not a crash: after installInterruptHandler() the first
// SIGINT only sets a flag, which the runner checks at safe points (between
// stages, and after a stage saved its progress), so the run stops with its
// directory consistent and resumable; a second SIGINT kills as usual.
namespace edgeopt {

void installInterruptHandler();
// Whether a SIGINT arrived since the handler was installed.
bool interruptRequested();

}  // namespace edgeopt
