// A std::mutex that a forked child gets back unlocked. fork() copies only the calling
// thread: a mutex another thread held at that moment stays locked in the child for ever
// (a model busy on another thread would deadlock the child's first call). Every live
// ForkSafeMutex is registered; the child's atfork handler, which runs before anything else
// in the child, re-initialises each one. What the lock guarded may be mid-update in the
// child: it gets the state as it was at the fork.
#pragma once
#include <mutex>

namespace mlpcore {

class ForkSafeMutex : public std::mutex {
 public:
  ForkSafeMutex();
  ~ForkSafeMutex();
  ForkSafeMutex(const ForkSafeMutex&) = delete;
  ForkSafeMutex& operator=(const ForkSafeMutex&) = delete;
};

}  // namespace mlpcore
