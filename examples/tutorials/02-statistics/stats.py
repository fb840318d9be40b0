"""Tutorial 02, statistics: the box-office gross of movies per genre, with
pandas inside sandboxed steps and a foreach over the genres."""

import os

from mfw import FlowSpec, IncludeFile, pypi_base, step

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


@pypi_base(packages={"pandas": "2.3.3"})
class MovieStatsFlow(FlowSpec):
    """For each genre, the quartiles of the box-office gross."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")

    @step
    def start(self):
        import io

        import pandas

        self.dataframe = pandas.read_csv(io.StringIO(self.movie_data))
        # One row per movie and genre.
        self.dataframe["genre"] = self.dataframe["genres"].str.split("|")
        self.dataframe = self.dataframe.explode("genre")
        self.genres = sorted(self.dataframe["genre"].unique().tolist())
        self.next(self.compute_statistics, foreach="genres")

    @step
    def compute_statistics(self):
        self.genre = self.input
        movies = self.dataframe[self.dataframe["genre"] == self.genre]
        self.count = len(movies)
        self.quartiles = movies["gross"].quantile([0.25, 0.5, 0.75]).to_numpy()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.genre_stats = {
            i.genre: {"count": i.count, "quartiles": i.quartiles.tolist()} for i in inputs
        }
        self.next(self.end)

    @step
    def end(self):
        for genre, stats in sorted(self.genre_stats.items()):
            low, median, high = stats["quartiles"]
            print(f"{genre:8} {stats['count']:4} movies, median gross {median:,.0f}")


if __name__ == "__main__":
    MovieStatsFlow()
