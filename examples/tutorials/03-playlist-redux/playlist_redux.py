"""Tutorial 03, a playlist from another flow's results: the start step reads
the latest successful run of MovieStatsFlow (tutorial 02) with the client
API, as a notebook would, and picks the genre whose movies gross most."""

import csv
import io
import os

from mfw import Flow, FlowSpec, IncludeFile, Parameter, step

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


class PlaylistReduxFlow(FlowSpec):
    """The top-grossing movies of the genre with the highest median gross."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")
    length = Parameter("length", default=3, help="How many movies the playlist has.")

    @step
    def start(self):
        """Reads the statistics another flow computed."""
        run = Flow("MovieStatsFlow").latest_successful_run
        print(f"Using the statistics of {run.pathspec}")
        self.stats_run = run.pathspec
        stats = run.data.genre_stats
        # Each genre's quartiles are (25%, median, 75%).
        self.genre = max(stats, key=lambda genre: stats[genre]["quartiles"][1])
        self.median = stats[self.genre]["quartiles"][1]
        self.next(self.pick)

    @step
    def pick(self):
        """The genre's movies above its median, best first."""
        movies = csv.DictReader(io.StringIO(self.movie_data))
        above = [
            m
            for m in movies
            if self.genre in m["genres"].split("|") and int(m["gross"]) > self.median
        ]
        above.sort(key=lambda m: int(m["gross"]), reverse=True)
        self.playlist = [m["movie_title"] for m in above[: self.length]]
        self.next(self.end)

    @step
    def end(self):
        print(f"{self.genre} grosses most: a median of {self.median:,.0f}")
        for number, title in enumerate(self.playlist, start=1):
            print(f"  {number}. {title}")


if __name__ == "__main__":
    PlaylistReduxFlow()
