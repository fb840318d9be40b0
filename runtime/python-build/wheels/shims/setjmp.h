/* setjmp/longjmp for a component without wasm exception handling (the
 * libc.so componentize-py bundles exports no setjmp, and wasi-libc's header
 * refuses to compile without -mllvm -wasm-enable-sjlj). setjmp() returns 0
 * (the normal path); longjmp() -- used by scipy only to unwind on errors
 * (qhull's qh_errexit, ccallback's Python-exception escape from quadpack,
 * SuperLU's abort) -- traps, so those errors end the task instead of
 * raising a Python exception. */
#ifndef MFW_SHIM_SETJMP_H
#define MFW_SHIM_SETJMP_H
typedef long jmp_buf[8];
typedef long sigjmp_buf[8];
#define setjmp(env) ((void)(env), 0)
#define _setjmp(env) ((void)(env), 0)
#define sigsetjmp(env, save) ((void)(env), (void)(save), 0)
__attribute__((noreturn)) static inline void longjmp(jmp_buf env, int val) { (void)env; (void)val; __builtin_trap(); }
__attribute__((noreturn)) static inline void _longjmp(jmp_buf env, int val) { (void)env; (void)val; __builtin_trap(); }
__attribute__((noreturn)) static inline void siglongjmp(sigjmp_buf env, int val) { (void)env; (void)val; __builtin_trap(); }
#endif
