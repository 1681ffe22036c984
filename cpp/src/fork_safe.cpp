#include "mlpcore/fork_safe.hpp"

#include <pthread.h>

#include <unordered_set>

namespace mlpcore {

namespace {

// The registry and its lock. The parent holds the lock across fork() (prepare handler), so
// the child's copy of the set is never mid-update; the child then re-initialises the lock.
struct Registry {
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  std::unordered_set<ForkSafeMutex*> live;
};

Registry& registry() {
  static Registry* r = [] {
    auto* made = new Registry;  // never destroyed: mutexes may outlive static destruction
    pthread_atfork([] { pthread_mutex_lock(&registry().lock); },
                   [] { pthread_mutex_unlock(&registry().lock); },
                   [] {
                     Registry& reg = registry();
                     pthread_mutex_init(&reg.lock, nullptr);
                     // only this thread exists in the child: no one else can hold or wait on these
                     for (ForkSafeMutex* m : reg.live)
                       pthread_mutex_init(m->native_handle(), nullptr);
                   });
    return made;
  }();
  return *r;
}

}  // namespace

ForkSafeMutex::ForkSafeMutex() {
  Registry& reg = registry();
  pthread_mutex_lock(&reg.lock);
  try {
    reg.live.insert(this);
  } catch (...) {
    pthread_mutex_unlock(&reg.lock);
    throw;
  }
  pthread_mutex_unlock(&reg.lock);
}

ForkSafeMutex::~ForkSafeMutex() {
  Registry& reg = registry();
  pthread_mutex_lock(&reg.lock);
  reg.live.erase(this);
  pthread_mutex_unlock(&reg.lock);
}

}  // namespace mlpcore
