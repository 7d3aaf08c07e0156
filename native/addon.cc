// JavaScript bindings: thin wrappers that turn typed arrays into pointers and Failures into
// errors carrying a `code`. Every data-path call moves a whole burst.
#include <napi.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>
#include <sched.h>

#include <algorithm>
#include <cstddef>

#include "afpacket.h"
#include "endpoint.h"
#include "manager.h"
#include "os.h"
#include "region.h"
#include "state.h"

namespace {

using namespace xio;

// The addon's classes in this environment (main thread or worker), for InstanceOf checks.
struct Classes {
  Napi::FunctionReference region, endpoint;
};

Napi::Error toError(Napi::Env env, const Failure& f) {
  Napi::Error e = Napi::Error::New(env, f.message);
  e.Set("code", Napi::String::New(env, f.code));
  return e;
}

template <typename F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Failure& failure) {
    throw toError(env, failure);
  }
}

uint32_t u32(const Napi::Object& o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

struct Burst {
  uint32_t* data;
  uint32_t capacity;
};

Burst burstArg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw Napi::TypeError::New(info.Env(), "descriptors must be a Uint32Array");
  auto a = info[index].As<Napi::Uint32Array>();
  return {a.Data(), uint32_t(a.ElementLength())};
}

uint32_t countArg(const Napi::CallbackInfo& info, size_t index, uint32_t capacity) {
  uint32_t n = info.Length() > index && info[index].IsNumber() ? info[index].As<Napi::Number>().Uint32Value() : capacity;
  return n < capacity ? n : capacity;
}

class EndpointHandle;

class RegionHandle : public Napi::ObjectWrap<RegionHandle> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Region",
                       {StaticMethod<&RegionHandle::create>("create"), StaticMethod<&RegionHandle::attach>("attach"),
                        StaticMethod<&RegionHandle::removeIfStale>("removeIfStale"),
                        InstanceMethod<&RegionHandle::buffer>("buffer"),
                        InstanceMethod<&RegionHandle::startManager>("startManager"),
                        InstanceMethod<&RegionHandle::stopManager>("stopManager"),
                        InstanceMethod<&RegionHandle::declare>("declare"), InstanceMethod<&RegionHandle::route>("route"),
                        InstanceMethod<&RegionHandle::routes>("routes"),
                        InstanceMethod<&RegionHandle::managerAlive>("managerAlive"),
                        InstanceMethod<&RegionHandle::recordChainFile>("recordChainFile"),
                        InstanceMethod<&RegionHandle::assistId>("assistId"),
                        InstanceMethod<&RegionHandle::close>("close")});
  }

  RegionHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RegionHandle>(info) {}
  std::shared_ptr<Region> region;
  std::unique_ptr<Manager> manager;

 private:
  static Napi::Value wrap(Napi::Env env, std::shared_ptr<Region> r) {
    // Per environment (main thread or worker), never a process global: the addon may be
    // loaded by several threads.
    Napi::Object o = env.GetInstanceData<Classes>()->region.New({});
    RegionHandle::Unwrap(o)->region = std::move(r);
    return o;
  }

  static Napi::Value create(const Napi::CallbackInfo& info) {
    std::string prefix = info[0].As<Napi::String>();
    Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
    RegionConfig c;
    c.slots = u32(o, "slots", c.slots);
    c.ringSize = u32(o, "ringSize", c.ringSize);
    c.cacheSize = u32(o, "cacheSize", std::min(c.cacheSize, c.ringSize / 2));
    c.bufferCount = u32(o, "buffers", c.bufferCount);
    c.bufferSize = u32(o, "bufferSize", c.bufferSize);
    c.headroom = u32(o, "headroom", c.headroom);
    c.mode = u32(o, "mode", c.mode);
    c.gid = o.Get("gid").IsNumber() ? o.Get("gid").As<Napi::Number>().Int32Value() : -1;
    if (o.Get("chainFile").IsString()) c.chainFile = o.Get("chainFile").As<Napi::String>().Utf8Value();
    return wrap(info.Env(), guard(info.Env(), [&] { return Region::create(prefix, c); }));
  }

  static Napi::Value removeIfStale(const Napi::CallbackInfo& info) {
    std::string prefix = info[0].As<Napi::String>();
    return Napi::Boolean::New(info.Env(), guard(info.Env(), [&] { return xio::removeIfStale(prefix); }));
  }

  static Napi::Value attach(const Napi::CallbackInfo& info) {
    std::string prefix = info[0].As<Napi::String>();
    bool readOnly = info.Length() > 1 && info[1].ToBoolean();
    return wrap(info.Env(), guard(info.Env(), [&] { return Region::attach(prefix, readOnly); }));
  }

  // An ArrayBuffer over the whole mapping; it keeps the mapping alive until it is collected.
  Napi::Value buffer(const Napi::CallbackInfo& info) {
    requireOpen(info.Env());
    auto* keep = new std::shared_ptr<Region>(region);
    return Napi::ArrayBuffer::New(info.Env(), region->base(), region->size(),
                                  [](Napi::Env, void*, std::shared_ptr<Region>* k) { delete k; }, keep);
  }

  Napi::Value startManager(const Napi::CallbackInfo& info) {
    requireOpen(info.Env());
    if (!region->owner()) throw Napi::Error::New(info.Env(), "only the process that created the region runs its manager");
    Napi::Object o = info.Length() && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
    ManagerConfig c;
    c.burst = u32(o, "burst", c.burst);
    c.spinNs = uint64_t(u32(o, "spinUs", uint32_t(c.spinNs / 1000))) * 1000;
    c.sleepNs = uint64_t(u32(o, "sleepMs", uint32_t(c.sleepNs / 1000000))) * 1000000;
    c.livenessEveryNs = uint64_t(u32(o, "livenessMs", uint32_t(c.livenessEveryNs / 1000000))) * 1000000;
    c.cpu = o.Get("cpu").IsNumber() ? o.Get("cpu").As<Napi::Number>().Int32Value() : -1;
    // One Manager for the region's life: it holds the pool and buffer ownership, so a stop and
    // a start must not replace it (declare() and route() may have made it already).
    guard(info.Env(), [&] {
      if (!manager) manager = std::make_unique<Manager>(region, c);
      else if (!manager->running()) manager->configure(c);
      manager->start();
    });
    return info.Env().Undefined();
  }

  // The spec a reload put in force, for observers (Header::chainFile).
  Napi::Value recordChainFile(const Napi::CallbackInfo& info) {
    requireOpen(info.Env());
    if (!region->owner()) throw Napi::Error::New(info.Env(), "only the process that created the region can record its chain");
    region->recordChainFile(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  }

  Napi::Value stopManager(const Napi::CallbackInfo& info) {
    if (manager) manager->stop();
    return info.Env().Undefined();
  }

  Manager& control(Napi::Env env) {
    requireOpen(env);
    if (!region->owner()) throw Napi::Error::New(env, "only the process that created the region can change its routes");
    if (!manager) manager = guard(env, [&] { return std::make_unique<Manager>(region, ManagerConfig{}); });
    return *manager;
  }

  Napi::Value declare(const Napi::CallbackInfo& info) {
    std::string name = info[0].As<Napi::String>();
    Manager& m = control(info.Env());
    return Napi::Number::New(info.Env(), guard(info.Env(), [&] { return m.declare(name); }));
  }

  Napi::Value route(const Napi::CallbackInfo& info) {
    Manager& m = control(info.Env());
    uint32_t from = info[0].As<Napi::Number>().Uint32Value(), gate = info[1].As<Napi::Number>().Uint32Value();
    uint32_t to = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : kNoService;
    guard(info.Env(), [&] { m.route(from, gate, to); });
    return info.Env().Undefined();
  }

  // [[from, gate, to | null], ...]: all in force at once (Manager::routes).
  Napi::Value routes(const Napi::CallbackInfo& info) {
    Manager& m = control(info.Env());
    if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "routes([[from, gate, to | null], ...])");
    Napi::Array list = info[0].As<Napi::Array>();
    // Whole numbers only (a string or NaN must not become service 0 or an unwired gate).
    auto index = [&](Napi::Value v) -> uint32_t {
      double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(n >= 0 && n <= 0xffff && n == double(uint32_t(n)))) throw Napi::TypeError::New(info.Env(), "routes(): from, gate and to are endpoint and gate numbers");
      return uint32_t(n);
    };
    std::vector<Manager::RouteChange> changes;
    for (uint32_t i = 0; i < list.Length(); i++) {
      if (!list.Get(i).IsArray()) throw Napi::TypeError::New(info.Env(), "routes([[from, gate, to | null], ...])");
      Napi::Array c = list.Get(i).As<Napi::Array>();
      changes.push_back({index(c.Get(0u)), index(c.Get(1u)), c.Get(2u).IsNull() ? kNoService : index(c.Get(2u))});
    }
    guard(info.Env(), [&] { m.routes(changes); });
    return info.Env().Undefined();
  }

  // The manager's number for assistManager (-1: none, or too many in this process).
  Napi::Value assistId(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), manager ? manager->assistId() : -1);
  }

  Napi::Value managerAlive(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), region && region->managerAlive());
  }

  // Stops the manager and, for the owner, removes the name. The mapping itself goes when the
  // last ArrayBuffer and endpoint over it are gone; the caller detaches its views first.
  Napi::Value close(const Napi::CallbackInfo& info) {
    if (manager) manager->stop();
    manager.reset();
    if (region) region->unlink();
    region.reset();
    return info.Env().Undefined();
  }

  void requireOpen(Napi::Env env) {
    if (!region) throw Napi::Error::New(env, "region is closed");
  }
};

// Waits for RX work on a pool thread, so readable() never blocks the event loop.
class ReadableWorker : public Napi::AsyncWorker {
 public:
  ReadableWorker(Napi::Env env, std::shared_ptr<Endpoint> endpoint)
      : Napi::AsyncWorker(env), endpoint_(std::move(endpoint)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    while (!endpoint_->closed()) {
      if (endpoint_->waitReadable(50000000)) {
        readable_ = true;
        return;
      }
      if (endpoint_->faulted()) {
        failure_ = Failure{"FAULTED", "the manager of prefix '" + endpoint_->region()->prefix() +
                                          "' cut this endpoint off (it wrote a ring index no correct endpoint writes)"};
        SetError(failure_.code);
        return;
      }
      if (!endpoint_->region()->managerAlive()) {
        failure_ = Failure{"MANAGER_GONE", "the manager of prefix '" + endpoint_->region()->prefix() +
                                               "' stopped while this endpoint waited"};
        SetError(failure_.code);
        return;
      }
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Boolean::New(Env(), readable_)); }
  void OnError(const Napi::Error&) override { deferred_.Reject(toError(Env(), failure_).Value()); }

 private:
  std::shared_ptr<Endpoint> endpoint_;
  Napi::Promise::Deferred deferred_;
  bool readable_ = false;
  Failure failure_;
};

class EndpointHandle : public Napi::ObjectWrap<EndpointHandle> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Endpoint",
                       {InstanceMethod<&EndpointHandle::rx>("rx"), InstanceMethod<&EndpointHandle::tx>("tx"),
                        InstanceMethod<&EndpointHandle::malloc>("malloc"), InstanceMethod<&EndpointHandle::free>("free"),
                        InstanceMethod<&EndpointHandle::rxWait>("rxWait"),
                        InstanceMethod<&EndpointHandle::readable>("readable"),
                        InstanceMethod<&EndpointHandle::detach>("detach"),
                        InstanceMethod<&EndpointHandle::setTaps>("setTaps"),
                        InstanceMethod<&EndpointHandle::waitTaps>("waitTaps"),
                        InstanceMethod<&EndpointHandle::wakeManager>("wakeManager"),
                        InstanceAccessor<&EndpointHandle::slot>("slot"),
                        InstanceAccessor<&EndpointHandle::spinUs>("spinUs"),
                        InstanceAccessor<&EndpointHandle::service>("service")});
  }

  // new Endpoint(region, name, spinUs, capture?, instance?, also?): capture true makes a capture
  // endpoint (the name is then its own, capture:<pid>); instance, 0 to 65534, is which instance
  // of its endpoint this is (kept across restarts; default: the next free number); also, an
  // array of other endpoint names it serves too (a placement group).
  EndpointHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EndpointHandle>(info) {
    Napi::Function regionClass = info.Env().GetInstanceData<Classes>()->region.Value();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(regionClass) || !info[1].IsString())
      throw Napi::TypeError::New(info.Env(), "new Endpoint(region, name, spinUs?): region must be a Region");
    RegionHandle* r = RegionHandle::Unwrap(info[0].As<Napi::Object>());
    if (!r->region) throw Napi::Error::New(info.Env(), "region is closed");
    std::string name = info[1].As<Napi::String>();
    uint64_t spinNs = uint64_t(info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 50) * 1000;
    bool capture = info.Length() > 3 && info[3].ToBoolean();
    int instance = Endpoint::kAnyInstance;
    if (info.Length() > 4 && info[4].IsNumber()) {
      double n = info[4].As<Napi::Number>().DoubleValue();
      if (!(n >= 0 && n < kUnnumbered && n == double(int(n)))) throw Napi::RangeError::New(info.Env(), "instance must be an integer from 0 to 65534");
      instance = int(n);
    }
    std::vector<std::string> also;
    if (info.Length() > 5 && info[5].IsArray()) {
      Napi::Array names = info[5].As<Napi::Array>();
      for (uint32_t i = 0; i < names.Length(); i++) also.push_back(names.Get(i).ToString());
    }
    endpoint_ = guard(info.Env(), [&] { return std::make_shared<Endpoint>(r->region, name, spinNs, capture, instance, also); });
  }

 private:
  template <typename F>
  auto call(Napi::Env env, F&& f) -> decltype(f()) {
    return guard(env, std::forward<F>(f));
  }

  void notDriven(Napi::Env env) {
    if (endpoint_->driven())
      throw Napi::Error::New(env, "this endpoint is driven by its afpacket port's threads: stop the port before using or detaching it");
  }

  // A burst array must be the caller's own: a view of the region could be read-only here (a
  // write into it would fault) or could alias the rings themselves.
  Burst ownBurst(const Napi::CallbackInfo& info, size_t index) {
    Burst b = burstArg(info, index);
    auto* p = reinterpret_cast<uint8_t*>(b.data);
    const Region& r = *endpoint_->region();
    if (p < r.base() + r.size() && p + size_t(b.capacity) * 4 > r.base())
      throw Napi::TypeError::New(info.Env(), "descriptors must be a Uint32Array of your own, not a view of the region");
    return b;
  }

  Napi::Value rx(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    Burst b = ownBurst(info, 0);
    return Napi::Number::New(info.Env(), call(info.Env(), [&] { return endpoint_->rx(b.data, b.capacity); }));
  }
  Napi::Value tx(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    Burst b = burstArg(info, 0);
    uint32_t n = countArg(info, 1, b.capacity);
    return Napi::Number::New(info.Env(), call(info.Env(), [&] { return endpoint_->tx(b.data, n); }));
  }
  Napi::Value malloc(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    Burst b = ownBurst(info, 0);
    uint32_t n = countArg(info, 1, b.capacity);
    return Napi::Number::New(info.Env(), call(info.Env(), [&] { return endpoint_->malloc(b.data, n); }));
  }
  Napi::Value free(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    Burst b = burstArg(info, 0);
    uint32_t n = countArg(info, 1, b.capacity);
    call(info.Env(), [&] { endpoint_->free(b.data, n); });
    return info.Env().Undefined();
  }
  // rxWait(descs, timeoutMs, spin?): blocks this thread; for NF loops that have nothing else to do.
  // spin false: sleep without polling first (the JavaScript side has polled).
  Napi::Value rxWait(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    Burst b = ownBurst(info, 0);
    double ms = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
    if (!(ms >= 0)) throw Napi::RangeError::New(info.Env(), "rxWait timeout must be a number of milliseconds >= 0");
    // At most a minute per call: the caller's loop, not this call, decides how long to wait.
    uint64_t timeoutNs = uint64_t(std::min(ms, 60000.0) * 1e6);
    bool spin = info.Length() < 3 || info[2].ToBoolean();
    return Napi::Number::New(info.Env(), call(info.Env(), [&] { return endpoint_->rxWait(b.data, b.capacity, timeoutNs, spin); }));
  }
  Napi::Value readable(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    auto* worker = new ReadableWorker(info.Env(), endpoint_);
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  }
  Napi::Value detach(const Napi::CallbackInfo& info) {
    notDriven(info.Env());
    endpoint_->detach();
    return info.Env().Undefined();
  }
  // setTaps(words: Uint32Array): the sequence number waitTaps takes.
  Napi::Value setTaps(const Napi::CallbackInfo& info) {
    Burst b = burstArg(info, 0);
    return Napi::Number::New(info.Env(), call(info.Env(), [&] { return endpoint_->setTaps(b.data, b.capacity); }));
  }
  // waitTaps(seq, timeoutMs): whether the manager applies those taps now (blocks, at most 10 s).
  Napi::Value waitTaps(const Napi::CallbackInfo& info) {
    uint32_t seq = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
    double ms = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
    if (!(ms >= 0)) throw Napi::RangeError::New(info.Env(), "waitTaps timeout must be a number of milliseconds >= 0");
    uint64_t timeoutNs = uint64_t(std::min(ms, 10000.0) * 1e6);
    return Napi::Boolean::New(info.Env(), call(info.Env(), [&] { return endpoint_->waitTaps(seq, timeoutNs); }));
  }
  // For the rings' JavaScript side (src/xio/rings.ts), which calls it only when it saw the
  // manager's sleeping flag set: the futex wake is a system call.
  Napi::Value wakeManager(const Napi::CallbackInfo& info) {
    endpoint_->wakeManager();
    return info.Env().Undefined();
  }
  Napi::Value slot(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), endpoint_->slotIndex()); }
  Napi::Value spinUs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(endpoint_->spinNs()) / 1000); }
  Napi::Value service(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), endpoint_->serviceId()); }

 public:
  std::shared_ptr<Endpoint> endpoint_;
};

// Waits on a pool thread until any of several endpoints has RX work: one thread, not one per
// endpoint (readable() holds a pool thread per endpoint until it has work, and libuv has four),
// for a process whose endpoints are pumped from its event loop (the launcher's ports).
class RxWaitWorker : public Napi::AsyncWorker {
 public:
  RxWaitWorker(Napi::Env env, std::vector<std::shared_ptr<Endpoint>> endpoints, uint64_t timeoutNs,
               std::shared_ptr<std::atomic<uint32_t>> interrupt)
      : Napi::AsyncWorker(env), endpoints_(std::move(endpoints)), timeoutNs_(timeoutNs), interrupt_(std::move(interrupt)),
        interruptSeen_(interrupt_->load()), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    uint64_t deadline = nowNs() + timeoutNs_;
    std::atomic<uint32_t>* words[kFutexWaitMax];
    uint32_t expected[kFutexWaitMax];
    for (;;) {
      uint32_t armed = 0;
      bool ready = false;
      for (const auto& e : endpoints_) {
        ready = e->armWait(&expected[armed]);
        words[armed++] = e->wakeWord();
        if (ready) break;
      }
      // Last, so an interrupt() after the endpoints were armed still wakes the sleep below.
      words[armed] = interrupt_.get();
      expected[armed] = interrupt_->load();
      uint64_t now = nowNs();
      bool interrupted = expected[armed] != interruptSeen_;
      if (!ready && !interrupted && now < deadline) {
        for (uint32_t i = 0; i < armed; i++) endpoints_[i]->beginSleep();
        futexWaitAny(words, expected, armed + 1, deadline - now);
        for (uint32_t i = 0; i < armed; i++) endpoints_[i]->endSleep();
      }
      for (uint32_t i = 0; i < armed; i++) endpoints_[i]->disarm();
      if (ready || interrupted || now >= deadline) {
        readable_ = ready;
        return;
      }
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Boolean::New(Env(), readable_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  uint64_t timeoutNs_;
  std::shared_ptr<std::atomic<uint32_t>> interrupt_;
  uint32_t interruptSeen_;
  Napi::Promise::Deferred deferred_;
  bool readable_ = false;
};

// new RxWaiter(): wait(endpoints, timeoutMs) resolves true once one of the endpoints has RX work
// (or was closed or cut off meanwhile: its own calls then say why), false when timeoutMs passes
// or interrupt() is called; one wait at a time. With no endpoint it is a sleep interrupt() ends.
class RxWaiterHandle : public Napi::ObjectWrap<RxWaiterHandle> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "RxWaiter", {InstanceMethod<&RxWaiterHandle::wait>("wait"), InstanceMethod<&RxWaiterHandle::interrupt>("interrupt")});
  }
  RxWaiterHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RxWaiterHandle>(info) {}

 private:
  Napi::Value wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Function endpointClass = env.GetInstanceData<Classes>()->endpoint.Value();
    if (!info[0].IsArray()) throw Napi::TypeError::New(env, "wait(endpoints, timeoutMs): endpoints must be an array of Endpoints");
    Napi::Array list = info[0].As<Napi::Array>();
    // One word of the futex_waitv set is the interrupt's. No endpoint: a sleep interrupt() ends.
    if (list.Length() >= kFutexWaitMax)
      throw Napi::RangeError::New(env, "wait(endpoints, timeoutMs): at most " + std::to_string(kFutexWaitMax - 1) + " endpoints");
    std::vector<std::shared_ptr<Endpoint>> endpoints;
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(endpointClass))
        throw Napi::TypeError::New(env, "wait(endpoints, timeoutMs): endpoints must be an array of Endpoints");
      endpoints.push_back(EndpointHandle::Unwrap(v.As<Napi::Object>())->endpoint_);
    }
    double ms = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(ms >= 0)) throw Napi::RangeError::New(env, "wait(endpoints, timeoutMs): timeoutMs must be a number of milliseconds >= 0");
    auto* worker = new RxWaitWorker(env, std::move(endpoints), uint64_t(std::min(ms, 60000.0) * 1e6), interrupt_);
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  }
  Napi::Value interrupt(const Napi::CallbackInfo& info) {
    interrupt_->fetch_add(1);
    futexWake(interrupt_.get());
    return info.Env().Undefined();
  }
  std::shared_ptr<std::atomic<uint32_t>> interrupt_ = std::make_shared<std::atomic<uint32_t>>(0);
};

// new AfPacket(endpoint, { interface, blockSize?, blocks?, blockTimeoutMs?, promiscuous? }):
// the endpoint's data path is the port's two threads' from then on, until stop().
class AfPacketHandle : public Napi::ObjectWrap<AfPacketHandle> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "AfPacket", {InstanceMethod<&AfPacketHandle::stats>("stats"),
                                           InstanceMethod<&AfPacketHandle::failure>("failure"),
                                           InstanceMethod<&AfPacketHandle::stopReceiving>("stopReceiving"),
                                           InstanceMethod<&AfPacketHandle::stop>("stop")});
  }

  AfPacketHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AfPacketHandle>(info) {
    Napi::Env env = info.Env();
    Napi::Function endpointClass = env.GetInstanceData<Classes>()->endpoint.Value();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(endpointClass) || !info[1].IsObject())
      throw Napi::TypeError::New(env, "new AfPacket(endpoint, options): endpoint must be an Endpoint");
    Napi::Object o = info[1].As<Napi::Object>();
    AfPacketOptions options;
    if (!o.Get("interface").IsString()) throw Napi::TypeError::New(env, "new AfPacket: options.interface must be a string");
    options.interface = o.Get("interface").As<Napi::String>();
    options.blockSize = u32(o, "blockSize", options.blockSize);
    options.blocks = u32(o, "blocks", options.blocks);
    options.blockTimeoutMs = u32(o, "blockTimeoutMs", options.blockTimeoutMs);
    if (o.Get("promiscuous").IsBoolean()) options.promiscuous = o.Get("promiscuous").As<Napi::Boolean>();
    std::shared_ptr<Endpoint> endpoint = EndpointHandle::Unwrap(info[0].As<Napi::Object>())->endpoint_;
    port_ = guard(env, [&] { return std::make_unique<AfPacketPort>(endpoint, options); });
  }

 private:
  Napi::Value stats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    AfPacketStats s = port_->stats();
    auto set = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(info.Env(), double(v))); };
    set("rxFrames", s.rxFrames);
    set("rxBytes", s.rxBytes);
    set("txFrames", s.txFrames);
    set("txBytes", s.txBytes);
    set("kernelDrops", s.kernelDrops);
    set("oversize", s.oversize);
    set("runts", s.runts);
    set("txErrors", s.txErrors);
    set("linkErrors", s.linkErrors);
    set("poolWaits", s.poolWaits);
    set("checksumsCompleted", s.checksumsCompleted);
    return o;
  }
  Napi::Value failure(const Napi::CallbackInfo& info) {
    std::string f = port_->failure();
    return f.empty() ? info.Env().Null() : Napi::String::New(info.Env(), f);
  }
  Napi::Value stopReceiving(const Napi::CallbackInfo& info) {
    port_->stopReceiving();
    return info.Env().Undefined();
  }
  Napi::Value stop(const Napi::CallbackInfo& info) {
    port_->stop();
    return info.Env().Undefined();
  }

  std::unique_ptr<AfPacketPort> port_;
};

// interfaceInfo(name): { index, mtu, gro, lro, txChecksum } — what a port on it should know.
Napi::Value interfaceInfoOf(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "interfaceInfo(name): name must be a string");
  InterfaceInfo i = guard(info.Env(), [&] { return interfaceInfo(info[0].As<Napi::String>()); });
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("index", Napi::Number::New(info.Env(), i.index));
  o.Set("mtu", Napi::Number::New(info.Env(), i.mtu));
  o.Set("gro", Napi::Boolean::New(info.Env(), i.gro));
  o.Set("lro", Napi::Boolean::New(info.Env(), i.lro));
  o.Set("txChecksum", Napi::Boolean::New(info.Env(), i.txChecksum));
  return o;
}

// frameFlowHash(bytes): the flow hash the afpacket port gives a frame (tests compare it with
// src/packet/flow.ts).
Napi::Value frameFlowHashOf(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(info.Env(), "frameFlowHash(bytes): bytes must be a Uint8Array");
  auto bytes = info[0].As<Napi::Uint8Array>();
  return Napi::Number::New(info.Env(), frameFlowHash(bytes.Data(), uint32_t(bytes.ElementLength())));
}

// Every constant and field offset TypeScript needs, straight from the structs.
Napi::Object layout(Napi::Env env) {
  Napi::Object l = Napi::Object::New(env);
  auto set = [&](Napi::Object o, const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  auto group = [&](const char* name) {
    Napi::Object o = Napi::Object::New(env);
    l.Set(name, o);
    return o;
  };
  set(l, "version", kLayoutVersion);
  set(l, "maxSlots", kMaxSlots);
  set(l, "maxServices", kMaxServices);
  set(l, "maxGates", kMaxGates);
  set(l, "nameLength", kNameLength);
  set(l, "noService", kNoService);
  set(l, "pausedRoute", kPausedRoute);
  set(l, "unnumbered", kUnnumbered);
  set(l, "ringsPerSlot", kRingsPerSlot);
  set(l, "entryBytes", uint32_t(sizeof(Entry)));
  set(l, "page", kPage);

  Napi::Object action = group("action");
  set(action, "gate", kActionGate);
  set(action, "to", kActionTo);
  set(action, "drop", kActionDrop);
  set(l, "dropConsumed", kDropConsumed);
  set(l, "dropAsShift", kDropAsShift);
  set(action, "lost", kActionLost);
  set(action, "gateOf", kActionGateOf);
  set(action, "toInstance", kActionToInstance);
  set(l, "maxInstanceNumber", kMaxInstanceNumber);
  set(l, "handoffTag", kHandoffTag);
  set(action, "invalid", kActionInvalid);
  Napi::Object slotState = group("slotState");
  set(slotState, "free", kSlotFree);
  set(slotState, "active", kSlotActive);
  set(slotState, "detaching", kSlotDetaching);
  set(slotState, "faulted", kSlotFaulted);
  set(slotState, "waiting", kSlotWaiting);
  Napi::Object capture = group("capture");
  set(capture, "service", kCaptureService);
  set(capture, "maxTaps", kMaxTaps);
  set(capture, "maxCaptures", kMaxCaptures);
  set(capture, "rx", kTapRx);
  set(capture, "gate", kTapGate);
  set(capture, "tx", kTapTx);
  set(capture, "trace", kTapTrace);
  Napi::Object claimState = group("claimState");
  set(claimState, "none", kClaimNone);
  set(claimState, "active", kClaimActive);
  set(claimState, "detaching", kClaimDetaching);

#define FIELD(obj, type, field) set(obj, #field, offsetof(type, field))
  Napi::Object header = group("header");
  FIELD(header, Header, magic); FIELD(header, Header, version); FIELD(header, Header, regionSize);
  FIELD(header, Header, slotCount); FIELD(header, Header, serviceCount); FIELD(header, Header, ringSize);
  FIELD(header, Header, cacheSize); FIELD(header, Header, bufferCount); FIELD(header, Header, bufferSize);
  FIELD(header, Header, bufferStride);
  FIELD(header, Header, dataOffset); FIELD(header, Header, slotStride); FIELD(header, Header, managerSideOffset);
  FIELD(header, Header, endpointEntries); FIELD(header, Header, managerEntries);
  FIELD(header, Header, doorbellOffset); FIELD(header, Header, servicesOffset); FIELD(header, Header, slotsOffset);
  FIELD(header, Header, buffersOffset);
  FIELD(header, Header, state); FIELD(header, Header, managerPid); FIELD(header, Header, managerTid);
  FIELD(header, Header, epoch); FIELD(header, Header, poolFree); FIELD(header, Header, endpointShare); FIELD(header, Header, countsMoving); FIELD(header, Header, managerSleeping); FIELD(header, Header, manager);
  FIELD(header, Header, chainFile);
  FIELD(header, Header, chainFileVersion);
  set(l, "chainFileLength", kChainFileLength);
  Napi::Object doorbell = group("doorbell");
  FIELD(doorbell, Doorbell, claims);

  Napi::Object manager = group("managerCounters");
  FIELD(manager, ManagerCounters, loops); FIELD(manager, ManagerCounters, busyLoops);
  FIELD(manager, ManagerCounters, assistedLoops);
  FIELD(manager, ManagerCounters, routed); FIELD(manager, ManagerCounters, dropped);
  FIELD(manager, ManagerCounters, consumed);
  FIELD(manager, ManagerCounters, noRoute); FIELD(manager, ManagerCounters, sleeps);
  FIELD(manager, ManagerCounters, wakeups); FIELD(manager, ManagerCounters, reclaimed); FIELD(manager, ManagerCounters, lost);
  FIELD(manager, ManagerCounters, deaths); FIELD(manager, ManagerCounters, poolDry);
  FIELD(manager, ManagerCounters, held); FIELD(manager, ManagerCounters, invalid);
  FIELD(manager, ManagerCounters, oversize); FIELD(manager, ManagerCounters, faults);
  FIELD(manager, ManagerCounters, captured); FIELD(manager, ManagerCounters, captureLost);
  FIELD(manager, ManagerCounters, taps);

  Napi::Object meta = group("meta");
  set(meta, "size", sizeof(Meta));
  FIELD(meta, Meta, length); FIELD(meta, Meta, inPort); FIELD(meta, Meta, prev); FIELD(meta, Meta, action);
  FIELD(meta, Meta, flowHash); FIELD(meta, Meta, timestamp); FIELD(meta, Meta, tap); FIELD(meta, Meta, trace); FIELD(meta, Meta, user);

  Napi::Object producer = group("ringProducer");
  FIELD(producer, RingProducer, head); FIELD(producer, RingProducer, enqueued); FIELD(producer, RingProducer, refused);
  FIELD(producer, RingProducer, bursts); FIELD(producer, RingProducer, cachedTail);
  Napi::Object consumer = group("ringConsumer");
  FIELD(consumer, RingConsumer, tail); FIELD(consumer, RingConsumer, dequeued); FIELD(consumer, RingConsumer, bursts);
  FIELD(consumer, RingConsumer, cachedHead);

  // A slot is two sides, each page-aligned: the endpoint's, then (at managerSideOffset) the manager's.
  Napi::Object endpointSide = group("endpointSide");
  FIELD(endpointSide, EndpointSide, claim); FIELD(endpointSide, EndpointSide, pid);
  FIELD(endpointSide, EndpointSide, service); FIELD(endpointSide, EndpointSide, instance);
  FIELD(endpointSide, EndpointSide, generation); FIELD(endpointSide, EndpointSide, name);
  FIELD(endpointSide, EndpointSide, counters); FIELD(endpointSide, EndpointSide, sleepRequests);
  FIELD(endpointSide, EndpointSide, asleep); FIELD(endpointSide, EndpointSide, rx);
  FIELD(endpointSide, EndpointSide, alloc); FIELD(endpointSide, EndpointSide, tx);
  FIELD(endpointSide, EndpointSide, free); FIELD(endpointSide, EndpointSide, taps); FIELD(endpointSide, EndpointSide, nf);
  Napi::Object captureTaps = group("captureTaps");
  FIELD(captureTaps, CaptureTaps, seq); FIELD(captureTaps, CaptureTaps, count); FIELD(captureTaps, CaptureTaps, taps);
  Napi::Object managerSide = group("managerSide");
  FIELD(managerSide, ManagerSide, state); FIELD(managerSide, ManagerSide, service); FIELD(managerSide, ManagerSide, instance);
  FIELD(managerSide, ManagerSide, route); FIELD(managerSide, ManagerSide, wakeSeq);
  FIELD(managerSide, ManagerSide, rx); FIELD(managerSide, ManagerSide, alloc);
  FIELD(managerSide, ManagerSide, tx); FIELD(managerSide, ManagerSide, free);
  FIELD(managerSide, ManagerSide, tapsSeen); FIELD(managerSide, ManagerSide, tapsActive);
  FIELD(managerSide, ManagerSide, roomWanted); FIELD(managerSide, ManagerSide, buffers); FIELD(managerSide, ManagerSide, atShare);
  Napi::Object nf = group("nfCounters");
  set(nf, "max", kNfCounters);
  set(nf, "nameLength", kCounterName);
  FIELD(nf, NfCounters, count); FIELD(nf, NfCounters, updates); FIELD(nf, NfCounters, names); FIELD(nf, NfCounters, values);
  Napi::Object endpoint = group("endpointCounters");
  FIELD(endpoint, EndpointCounters, mallocFails); FIELD(endpoint, EndpointCounters, sleeps);
  FIELD(endpoint, EndpointCounters, wakesSent); FIELD(endpoint, EndpointCounters, decided);
  Napi::Object route = group("routeCounters");
  FIELD(route, RouteCounters, rxPackets); FIELD(route, RouteCounters, rxBytes); FIELD(route, RouteCounters, txPackets);
  FIELD(route, RouteCounters, txBytes); FIELD(route, RouteCounters, dropped); FIELD(route, RouteCounters, noRoute);
  FIELD(route, RouteCounters, freed); FIELD(route, RouteCounters, wakes); FIELD(route, RouteCounters, reclaimed); FIELD(route, RouteCounters, lost);
  FIELD(route, RouteCounters, invalid); FIELD(route, RouteCounters, captured); FIELD(route, RouteCounters, captureLost);
  FIELD(route, RouteCounters, consumed);

  Napi::Object service = group("service");
  set(service, "size", sizeof(Service));
  FIELD(service, Service, declared); FIELD(service, Service, instances); FIELD(service, Service, deaths);
  FIELD(service, Service, routes); FIELD(service, Service, name); FIELD(service, Service, left);
#undef FIELD
  return l;
}

// A plain N-API callback, not node-addon-api's wrapper (which reads the arguments and sets up
// exception handling): endpoints call this between polls, so its overhead sits in every
// hand-over between two processes sharing a CPU. Returns undefined.
napi_value schedYield(napi_env, napi_callback_info) {
  sched_yield();
  return nullptr;
}

// The first argument as an int (-1 if it is none), and whether a second one is true; plain
// N-API, as schedYield.
int intArgument(napi_env env, napi_callback_info info, bool* second = nullptr) {
  size_t argc = 2;
  napi_value args[2];
  int32_t id = -1;
  if (napi_get_cb_info(env, info, &argc, args, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, args[0], &id) != napi_ok)
    return -1;
  if (second && (argc < 2 || napi_get_value_bool(env, args[1], second) != napi_ok)) *second = false;
  return id;
}

// assistManager(id): schedYield for an endpoint of the manager's own process, which makes one
// of the manager's passes instead where that helps (Manager::assistTurn).
napi_value assistManager(napi_env env, napi_callback_info info) {
  napi_value shared = nullptr;
  napi_get_boolean(env, Manager::assistTurn(intArgument(env, info)), &shared);
  return shared;
}

// endAssist(id, sleeping): the wait is over; sleeping: the endpoint goes to sleep, and the
// manager's thread takes over now (Manager::endAssist).
napi_value endAssist(napi_env env, napi_callback_info info) {
  bool sleeping = false;
  int id = intArgument(env, info, &sleeping);
  Manager::endAssist(id, sleeping);
  return nullptr;
}

// An exclusive flock on an open file, without waiting: false if another open file holds one.
// The kernel drops it when the file is closed or the process dies. (Node has no flock.)
Napi::Value lockFile(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "lockFile(fd): fd must be a number");
  return Napi::Boolean::New(info.Env(), flock(info[0].As<Napi::Number>().Int32Value(), LOCK_EX | LOCK_NB) == 0);
}

// Pins every thread of this process (Node's own included) to the given CPUs, as taskset does.
Napi::Value setAffinity(const Napi::CallbackInfo& info) {
  Napi::Array cpus = info[0].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < cpus.Length(); i++) CPU_SET(cpus.Get(i).As<Napi::Number>().Uint32Value(), &set);
  DIR* dir = opendir("/proc/self/task");
  if (!dir) throw Napi::Error::New(info.Env(), "cannot list /proc/self/task");
  int failures = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (sched_setaffinity(pid_t(atoi(e->d_name)), sizeof set, &set) != 0) failures++;
  }
  closedir(dir);
  if (failures) throw Napi::Error::New(info.Env(), "could not set CPU affinity: no such CPU, or not permitted");
  return info.Env().Undefined();
}

// dieWithParent(parentPid): the kernel kills this process (SIGKILL) when its parent does, as a
// launcher killed with -9 cannot stop its NFs, and one hung in a loop never looks for its
// manager. False if the parent is already gone (another pid is the parent now): the caller leaves.
Napi::Value dieWithParent(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "dieWithParent(parentPid): parentPid must be a number");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw Napi::Error::New(info.Env(), "prctl(PR_SET_PDEATHSIG) failed");
  return Napi::Boolean::New(info.Env(), getppid() == pid_t(info[0].As<Napi::Number>().Int32Value()));
}

// openState(prefix, endpoint, instance, bytes, tag): { buffer, resumed } — an NF instance's
// state segment (state.h); the ArrayBuffer keeps the mapping alive until it is collected.
Napi::Value openStateOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsString())
    throw Napi::TypeError::New(env, "openState(prefix, endpoint, instance, bytes, tag)");
  bool resumed = false;
  auto segment = guard(env, [&] {
    return openState(info[0].As<Napi::String>(), info[1].As<Napi::String>(), info[2].As<Napi::Number>().Uint32Value(),
                     size_t(info[3].As<Napi::Number>().Int64Value()), info[4].As<Napi::String>(), &resumed);
  });
  auto* keep = new std::shared_ptr<StateSegment>(segment);
  Napi::Object o = Napi::Object::New(env);
  o.Set("buffer", Napi::ArrayBuffer::New(env, segment->data(), segment->dataSize(),
                                         [](Napi::Env, void*, std::shared_ptr<StateSegment>* k) { delete k; }, keep));
  o.Set("resumed", Napi::Boolean::New(env, resumed));
  return o;
}

// stateHeld(fileName): whether a live process holds /dev/shm/<fileName>, a state segment.
Napi::Value stateHeldOf(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "stateHeld(fileName): fileName must be a string");
  return Napi::Boolean::New(info.Env(), guard(info.Env(), [&] { return stateHeld(info[0].As<Napi::String>()); }));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  Napi::Function region = RegionHandle::define(env);
  Napi::Function endpoint = EndpointHandle::define(env);
  env.SetInstanceData(new Classes{Napi::Persistent(region), Napi::Persistent(endpoint)});
  exports.Set("Region", region);
  exports.Set("Endpoint", endpoint);
  exports.Set("AfPacket", AfPacketHandle::define(env));
  exports.Set("RxWaiter", RxWaiterHandle::define(env));
  exports.Set("interfaceInfo", Napi::Function::New(env, interfaceInfoOf));
  exports.Set("frameFlowHash", Napi::Function::New(env, frameFlowHashOf));
  exports.Set("layout", layout(env));
  // Plain N-API functions, called between polls (see schedYield).
  using Plain = std::pair<const char*, napi_callback>;
  for (const Plain& p : {Plain{"schedYield", schedYield}, Plain{"assistManager", assistManager}, Plain{"endAssist", endAssist}}) {
    napi_value fn;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, p.first, NAPI_AUTO_LENGTH, p.second, nullptr, &fn), exports);
    exports.Set(p.first, fn);
  }
  exports.Set("setAffinity", Napi::Function::New(env, setAffinity));
  exports.Set("dieWithParent", Napi::Function::New(env, dieWithParent));
  exports.Set("lockFile", Napi::Function::New(env, lockFile));
  exports.Set("openState", Napi::Function::New(env, openStateOf));
  exports.Set("stateHeld", Napi::Function::New(env, stateHeldOf));
  return exports;
}

}  // namespace

NODE_API_MODULE(xio, init)
