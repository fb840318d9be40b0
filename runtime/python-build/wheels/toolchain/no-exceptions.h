/* Included before every C++ file a native package compiles for a component.
 *
 * componentize-py bundles a libc++ built without exceptions, so C++ builds
 * with -fno-exceptions. Code that throws or catches anyway compiles like
 * this: a `throw` traps (the task fails with a wasm trap, as an uncaught
 * exception would abort natively), `try` runs its block, and a `catch (...)`
 * block never runs. A `catch` that names its exception is patched per
 * package (see ../patches). The standard headers are included first, so the
 * macros reach only the package's own code. */
#ifndef MFW_NO_EXCEPTIONS_H
#define MFW_NO_EXCEPTIONS_H
#ifdef __cplusplus
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <ios>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>
#pragma clang diagnostic ignored "-Wkeyword-macro"
#define throw __builtin_trap(),
#define try if (true)
#define catch(...) else if (false)
/* Cython's conversion of a C++ exception into a Python one. */
#define __Pyx_CppExn2PyErr() ((void)0)
#endif
#endif
