"""Tutorial 06, a card: a report stored with the task that made it, with a
table and a chart, seen in `mfw ui` or written out as one HTML page."""

import csv
import io
import os

from mfw import FlowSpec, IncludeFile, card, current, step
from mfw.cards import Markdown, Table, VegaChart

# movie_title, title_year, genres (separated by |) and gross of 300 made-up
# movies. A default path is read only inside the flow's directory.
MOVIES = os.path.join(os.path.dirname(__file__), "movies.csv")


class GrossReportFlow(FlowSpec):
    """The median box-office gross of each genre, as a card."""

    movie_data = IncludeFile("movie_data", default=MOVIES, help="The movies, as CSV.")

    @step
    def start(self):
        by_genre = {}
        for movie in csv.DictReader(io.StringIO(self.movie_data)):
            for genre in movie["genres"].split("|"):
                by_genre.setdefault(genre, []).append(int(movie["gross"]))
        self.medians = {
            genre: sorted(grosses)[len(grosses) // 2] for genre, grosses in sorted(by_genre.items())
        }
        self.next(self.end)

    @card
    @step
    def end(self):
        """The default card: what the step adds, then its artifacts."""
        # Stored dicts come back with their keys in the encoding's order
        # (shortest first), so sort them for people.
        medians = sorted(self.medians.items())
        current.card.append(Markdown("# Median gross by genre"))
        current.card.append(
            Table(
                [[genre, f"{median:,}"] for genre, median in medians],
                headers=["genre", "median gross"],
            )
        )
        current.card.append(
            VegaChart(
                {
                    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                    "data": {
                        "values": [{"genre": genre, "median": median} for genre, median in medians]
                    },
                    "mark": "bar",
                    "encoding": {
                        "x": {"field": "genre", "type": "nominal"},
                        "y": {"field": "median", "type": "quantitative"},
                    },
                }
            )
        )
        print(f"a card for {len(self.medians)} genres")


if __name__ == "__main__":
    GrossReportFlow()
