"""Makes C++ that names the exceptions it catches compile with
toolchain/no-exceptions.h, where `try` runs its block and `catch (...)`
never runs. Run by the recipe in a package's source directory, with the
directories to rewrite as arguments (tests and vendored test frameworks
are left alone).

- `catch (const std::bad_alloc& e) {` becomes `catch (...) {` with `e`
  bound, as an unused reference, inside the block that never runs, so the
  block still compiles. Const-ness is kept (`e.restore()` needs a non-const
  reference).
- A rethrow (`throw;`) becomes a trap.

Behaviour is unchanged as long as nothing throws; whatever would throw
traps instead (see no-exceptions.h). A script rather than a patch: the
same mechanical change in many places (about 110 in scipy and HiGHS) reads
better as these two rules. Running it twice changes nothing."""

import glob
import os
import re
import sys

NAMED = re.compile(r"catch\s*\(\s*(const\s+)?([A-Za-z_][\w:<>]*)\s*&\s*(\w+)\s*\)\s*\{")
SUFFIXES = (".cpp", ".cxx", ".cc", ".h", ".hpp")


def fix(s: str) -> str:
    def named(m: re.Match) -> str:
        c = "const " if m.group(1) else ""
        t, e = m.group(2), m.group(3)
        return f"catch (...) {{ [[maybe_unused]] {c}{t}& {e} = *static_cast<{c}{t}*>(nullptr);"

    s = NAMED.sub(named, s)
    return re.sub(r"\bthrow\s*;", "__builtin_trap();", s)


def main(dirs: list[str]) -> None:
    n = 0
    for d in dirs:
        if not os.path.isdir(d):
            raise SystemExit(f"no-named-catch: {d} is not a directory")
        for p in sorted(glob.glob(os.path.join(d, "**", "*"), recursive=True)):
            parts = p.split(os.sep)
            if not p.endswith(SUFFIXES) or "tests" in parts or "test" in parts:
                continue
            if p.endswith("catch.hpp"):
                continue
            with open(p, encoding="utf-8", errors="surrogateescape") as f:
                s = f.read()
            if "catch" not in s and "throw" not in s:
                continue
            t = fix(s)
            if t != s:
                with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(t)
                n += 1
    print(f"no-named-catch: rewrote {n} files")


if __name__ == "__main__":
    main(sys.argv[1:])
