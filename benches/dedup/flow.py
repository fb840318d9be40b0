"""benches/dedup.sh: a data frame of MIB MiB set in `start`, then set again
in `change` with 1% of its rows changed (`how`: one block of rows, rows
scattered at random, or rows appended), so the bench can count how many
of the second version's bytes the store had to write anew."""

import numpy as np
import pandas as pd

from mfw import FlowSpec, Parameter, pypi_base, step


@pypi_base(packages={"pandas": "2.3.3"})
class DedupFlow(FlowSpec):
    mib = Parameter("mib", help="The data frame's size in MiB.", default=100)
    how = Parameter("how", help="block, scattered or appended.", default="block")

    @step
    def start(self):
        columns = 10
        rows = (int(self.mib) << 20) // (8 * columns)
        values = np.random.default_rng(0).standard_normal((rows, columns))
        self.df = pd.DataFrame(values, columns=[f"c{i}" for i in range(columns)])
        self.next(self.change)

    @step
    def change(self):
        df = self.df
        rows, changed = len(df), len(df) // 100
        rng = np.random.default_rng(1)
        new = rng.standard_normal((changed, df.shape[1]))
        if self.how == "block":
            df = df.copy()
            at = rows // 2
            df.iloc[at : at + changed] = new
        elif self.how == "scattered":
            df = df.copy()
            df.iloc[np.sort(rng.choice(rows, changed, replace=False))] = new
        elif self.how == "appended":
            more = pd.DataFrame(new, columns=df.columns, index=range(rows, rows + changed))
            df = pd.concat([df, more])
        else:
            raise ValueError(f"how must be block, scattered or appended, not {self.how!r}")
        self.df = df
        self.next(self.end)

    @step
    def end(self):
        print(f"{len(self.df)} rows")


if __name__ == "__main__":
    DedupFlow()
