# Sourced by the benchmarks that time commands: `wall CMD...` prints the
# wall seconds CMD took (its output dropped; a failure stops the bench,
# through the caller's `say`), to `wall_digits` decimals (2 unless set);
# `median` prints the median of the numbers on its input, one a line.
wall() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { say "failed: $*"; exit 1; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" -v d="${wall_digits:-2}" 'BEGIN { printf "%.*f", d, b - a }'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
