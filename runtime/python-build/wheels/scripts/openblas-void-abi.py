"""Makes every Fortran-ABI subroutine in OpenBLAS 0.3.31 (its C_LAPACK
build) return void, as scipy (f2py wrappers, cython_lapack) and LAPACKE
declare them. Run by the recipe in OpenBLAS's source directory, after
patches/openblas-0.3.31.patch.

Why: on wasm32 a call through a declaration whose type differs from the
definition (an `int` return against a `void` one, or another number of
arguments) is not harmless as it is natively. wasm-ld warns "function
signature mismatch" and links the caller to a stub that traps. OpenBLAS
mixes the conventions: its own LAPACK replacements (interface/lapack:
getrf, getrs, gesv, potrf, ...) and xerbla return int, the f2c-translated
lapack-netlib files declare those callees int, and newer translations
(?gedmd, ?laqp2rk, ?geqp3rk, DEPRECATED, TESTING/MATGEN, INSTALL/ilaver)
declare void subroutines int and call xerbla_ without its hidden length.
Without this, 103 entry points of the library are trapping stubs in a
shared link; with it, none.

Why a script and not the patch: the change touches about 1,600 generated
files the same way; as a diff it would be about 1 MB that nobody could
review, while these rules can be read. Running it twice changes nothing."""

import glob
import re


def rewrite(path: str, fn) -> int:
    with open(path, encoding="latin-1") as f:
        s = f.read()
    t = fn(s)
    if t == s:
        return 0
    with open(path, "w", encoding="latin-1") as f:
        f.write(t)
    return 1


# OpenBLAS's LAPACK replacements, whose prototypes common_interface.h gives.
LAPACK = (
    "getf2 getrf laswp getrs gesv potf2 potrf potri potrs lauu2 lauum trti2 trtri trtrs laed3"
).split()
NAMES = {p + b for b in LAPACK for p in "sdqczx"} | {"xerbla"}
VOIDS = {p + b for b in LAPACK for p in "sdcz"} | {"ilaver"}


def lapack_iface(s: str) -> str:
    """interface/lapack/*.c: `int NAME(...)` -> void."""
    if not re.search(r"^int\s+NAME\s*\(", s, re.M):
        return s
    s = re.sub(r"^int(\s+NAME\s*\()", r"void\1", s, flags=re.M)
    return re.sub(r"\breturn 0;", "return;", s)


def proto(s: str) -> str:
    """common_interface.h: their prototypes, and xerbla's."""
    return re.sub(
        r"^(\s*)int(\s+BLASFUNC\((\w+)\))",
        lambda m: m.group(1) + ("void" if m.group(3) in NAMES else "int") + m.group(2),
        s,
        flags=re.M,
    )


def xerbla(s: str) -> str:
    """driver/others/xerbla.c: xerbla itself."""
    s = s.replace("int __xerbla(", "void __xerbla(")
    s = s.replace("int BLASFUNC(xerbla)(", "void BLASFUNC(xerbla)(")
    return s.replace("  return 0;\n}", "}")


def f2c(s: str) -> str:
    """f2c-translated LAPACK: subroutines declared or defined int -> void."""
    s = re.sub(r"\bextern (/\* Subroutine \*/ )?int ([a-z0-9_]+_)\(", r"extern \1void \2(", s)
    if re.search(r"^(/\* Subroutine \*/ )?int [a-z0-9_]+_\(", s, re.M):
        s = re.sub(r"^(/\* Subroutine \*/ )?int ([a-z0-9_]+_\()", r"\1void \2", s, flags=re.M)
        s = re.sub(r"\breturn 0;", "return;", s)
    return s


def lapack_h(s: str) -> str:
    """LAPACKE's prototypes of OpenBLAS's own routines: lapack_int -> void."""
    return re.sub(
        r"^lapack_int (LAPACK_([a-z0-9]+?)(_base)?)\(",
        lambda m: ("void " if m.group(2) in VOIDS else "lapack_int ") + m.group(1) + "(",
        s,
        flags=re.M,
    )


def xerbla_len(s: str) -> str:
    """?geqp3rk and friends call xerbla_ without the hidden length (also when
    the declaration is split over two lines, as in ?gedmd)."""
    s = s.replace("void xerbla_(char *, integer *);", "void xerbla_(char *, integer *, ftnlen);")
    s = re.sub(
        r'xerbla_\("([A-Z0-9_]+)", &([a-z0-9_]+)\);',
        lambda m: f'xerbla_("{m.group(1)}", &{m.group(2)}, (ftnlen){len(m.group(1))});',
        s,
    )
    return re.sub(
        r"xerbla_\((\s*)char \*,(\s*)integer(\s*)\*\)",
        r"xerbla_(\1char *,\2integer\3*, ftnlen)",
        s,
    )


def main() -> None:
    lapack_src = glob.glob("lapack-netlib/SRC/*.c") + glob.glob("lapack-netlib/SRC/DEPRECATED/*.c")
    extra = glob.glob("lapack-netlib/TESTING/MATGEN/*.c") + glob.glob("lapack-netlib/INSTALL/*.c")
    n = sum(rewrite(p, lapack_iface) for p in glob.glob("interface/lapack/*.c"))
    n += rewrite("common_interface.h", proto)
    n += rewrite("driver/others/xerbla.c", xerbla)
    n += sum(rewrite(p, f2c) for p in lapack_src + extra)
    n += rewrite("lapack-netlib/LAPACKE/include/lapack.h", lapack_h)
    n += sum(rewrite(p, xerbla_len) for p in lapack_src)
    print(f"openblas-void-abi: {n} changes")


if __name__ == "__main__":
    main()
