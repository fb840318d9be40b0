"""Tutorial 04, pinned packages: a package from PyPI, at an exact version,
bundled into the flow's component when it is built."""

import csv
import io
import os

from mfw import FlowSpec, IncludeFile, pypi_base, step

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


@pypi_base(packages={"tabulate": "0.9.0"})
class DecadesFlow(FlowSpec):
    """Counts the movies of each decade and prints them as a table."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")

    @step
    def start(self):
        years = [int(m["title_year"]) for m in csv.DictReader(io.StringIO(self.movie_data))]
        decades = {}
        for year in years:
            decade = year // 10 * 10
            decades[decade] = decades.get(decade, 0) + 1
        self.decades = sorted(decades.items())
        self.next(self.end)

    @step
    def end(self):
        # Imported where it is used: the package is in the component, so any
        # step can import it, and a step that does not pays nothing.
        from tabulate import tabulate

        print(tabulate(self.decades, headers=["decade", "movies"]))


if __name__ == "__main__":
    DecadesFlow()
