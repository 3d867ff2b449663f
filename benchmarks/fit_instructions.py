"""Instructions a default fit executes against the hand loops of loop_overhead.py, counted by valgrind's
callgrind: a count the machine's load does not move, where loop_overhead.py's CPU times move by +-10% on a
shared machine. A count is not a time (a cache miss or a page fault costs more than an instruction), so this
finds and checks cuts; loop_overhead.py stays the bar's measure.

Each loop runs once to warm up, then once counted, on loop_overhead.py's workload (its 256-step run); a call to
os.getppid() between loops makes callgrind write the counts so far (--dump-before), so each loop's count is the
difference between two dumps. Run it plainly: it starts itself under valgrind (apt install valgrind) and prints
one row per loop. Usage: python benchmarks/fit_instructions.py [--epochs N] [--all]
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

MARK = "getppid"   # the libc call whose entry dumps the counts
TWIN = 10 ** 6     # a mark matches two symbols (the call and libc's own), so it dumps twice: the dump between
                   # them holds a few instructions and is dropped


def counted(epochs: int, every: bool) -> list[str]:
    """Run the loops (warm, then counted between two marks); their names in order. The hand loop with fit's
    optimizer and fit with its defaults, doctor on and off; `every`: all of loop_overhead.py's loops."""
    from loop_overhead import runs, workload
    X, y, choice = workload()
    loops = runs(choice)
    if not every:
        loops = dict(list(loops.items())[1:4])
    for run in loops.values():
        run(X, y, epochs)
    for run in loops.values():
        os.getppid()
        run(X, y, epochs)
    os.getppid()
    return list(loops)


def totals(folder: str) -> list[int]:
    """The instruction count of each dump, in the order callgrind wrote them, without a mark's twin."""
    def part(path: str) -> int:
        tail = path.rsplit(".", 1)[-1]
        return int(tail) if tail.isdigit() else 1 << 30   # the final dump (no number) comes last
    counts = []
    for path in sorted(glob.glob(os.path.join(folder, "cg.out*")), key=part):
        with open(path) as dump:
            found = re.search(r"^(?:summary|totals): (\d+)", dump.read(), re.M)
        counts.append(int(found.group(1)) if found else 0)
    return [count for count in counts if count >= TWIN]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs of 64 steps (4: loop_overhead.py's run)")
    parser.add_argument("--all", action="store_true", help="every loop of loop_overhead.py, not only three")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        print("\n".join(counted(args.epochs, args.all)))
        return
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind", f"--dump-before=*{MARK}*",
                   f"--callgrind-out-file={folder}/cg.out", sys.executable, __file__, "--inside",
                   "--epochs", str(args.epochs), *(["--all"] if args.all else [])]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        names = [line for line in done.stdout.splitlines() if line]
        counts = totals(folder)
    if len(counts) != len(names) + 2:
        raise SystemExit(f"expected {len(names) + 2} dumps (one per mark and the last), got {len(counts)}: something "
                         f"else called {MARK}()")
    per_loop = dict(zip(names, counts[-len(names) - 1:-1]))   # the dumps between the marks around each loop
    hand = next(count for name, count in per_loop.items() if "fit's optimizer" in name)
    print(f"callgrind instructions, loop_overhead.py's workload, {args.epochs * 64} steps, one counted run each")
    print("| loop | instructions (M) | per step (k) | over the hand loop with fit's optimizer |")
    print("|---|---|---|---|")
    for name, count in per_loop.items():
        print(f"| {name} | {count / 1e6:.1f} | {count / (args.epochs * 64) / 1e3:.1f} | {count / hand:.3f} |")


if __name__ == "__main__":
    main()
