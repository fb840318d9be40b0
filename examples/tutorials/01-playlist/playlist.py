"""Tutorial 01, a playlist: parameters given on the command line, a data
file read into the run, and two branches that run side by side."""

import csv
import io
import os
import random

from mfw import FlowSpec, IncludeFile, Parameter, step

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


class PlaylistFlow(FlowSpec):
    """Makes a movie playlist for a genre, with a bonus movie from another."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")
    genre = Parameter("genre", default="Sci-Fi", help="The genre of the playlist.")
    length = Parameter("length", default=5, help="How many movies the playlist has.")
    seed = Parameter("seed", default=7, help="Shuffles the movies the same way each time.")

    @step
    def start(self):
        """Parses the CSV (no file access needed: the host read it)."""
        self.movies = list(csv.DictReader(io.StringIO(self.movie_data)))
        print(f"{len(self.movies)} movies to choose from")
        self.next(self.bonus_movie, self.genre_movies)

    @step
    def bonus_movie(self):
        """One movie of any other genre, the best-grossing one."""
        others = [m for m in self.movies if self.genre not in m["genres"].split("|")]
        best = max(others, key=lambda m: int(m["gross"]))
        self.bonus = (best["movie_title"], best["genres"])
        self.next(self.join)

    @step
    def genre_movies(self):
        """The genre's movies, shuffled with the seed."""
        titles = [m["movie_title"] for m in self.movies if self.genre in m["genres"].split("|")]
        random.Random(self.seed).shuffle(titles)
        self.playlist = titles[: self.length]
        self.next(self.join)

    @step
    def join(self, inputs):
        """Where the two branches meet: takes what each computed."""
        self.merge_artifacts(inputs, include=["playlist", "bonus"])
        self.next(self.end)

    @step
    def end(self):
        print(f"Playlist for movies in the genre {self.genre}:")
        for number, title in enumerate(self.playlist, start=1):
            print(f"  {number}. {title}")
        title, genres = self.bonus
        print(f"Bonus: {title} ({genres})")


if __name__ == "__main__":
    PlaylistFlow()
