"""Tutorial 08, a Rust step in a Python flow: Python does what it does best
(reading data, reporting), a Rust step the tight loop, and artifacts pass
between them as they would between Python steps."""

import csv
import io
import os

from mfw import FlowSpec, IncludeFile, step

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


class MedianRangeFlow(FlowSpec):
    """A 90% bootstrap interval of each genre's median gross."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")

    @step
    def start(self):
        self.gross_by_genre = {}
        for movie in csv.DictReader(io.StringIO(self.movie_data)):
            for genre in movie["genres"].split("|"):
                self.gross_by_genre.setdefault(genre, []).append(float(movie["gross"]))
        self.genres = sorted(self.gross_by_genre)
        # `bootstrap` is a step of the Rust component (mfw.toml names both).
        self.next(self.bootstrap, foreach="genres")

    @step
    def join(self, inputs):
        """Reads what each Rust task stored, as from any step."""
        self.ranges = {task.genre: (task.low, task.high) for task in inputs}
        self.next(self.end)

    @step
    def end(self):
        for genre, (low, high) in sorted(self.ranges.items()):
            print(f"{genre:8} median gross between {low / 1e6:6.1f}M and {high / 1e6:6.1f}M")


if __name__ == "__main__":
    MedianRangeFlow()
