"""Tutorial 07, caching and replay: a rerun reuses every task whose code,
inputs and parameters did not change, and `mfw replay` checks that a past
run's tasks still compute what they stored."""

import csv
import io
import os

from mfw import FlowSpec, IncludeFile, Parameter, step

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


class YearlyFlow(FlowSpec):
    """The mean gross per genre of the movies released since a year."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")
    since = Parameter("since", default=2000, help="The first year counted.")

    @step
    def start(self):
        """Parses the movies; reads no parameter, so a new `--since`
        reuses it."""
        self.movies = list(csv.DictReader(io.StringIO(self.movie_data)))
        self.genres = sorted({g for m in self.movies for g in m["genres"].split("|")})
        self.next(self.mean_gross, foreach="genres")

    @step
    def mean_gross(self):
        """One genre: reads `since`, so its tasks run again when it changes."""
        self.genre = self.input
        grosses = [
            int(m["gross"])
            for m in self.movies
            if self.genre in m["genres"].split("|") and int(m["title_year"]) >= self.since
        ]
        self.mean = sum(grosses) / len(grosses) if grosses else 0.0
        self.next(self.join)

    @step
    def join(self, inputs):
        self.means = {task.genre: task.mean for task in inputs}
        self.next(self.end)

    @step
    def end(self):
        best = max(self.means, key=self.means.get)
        print(f"since {self.since}, {best} grosses most: {self.means[best]:,.0f} on average")


if __name__ == "__main__":
    YearlyFlow()
