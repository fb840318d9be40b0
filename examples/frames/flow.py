from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={"pandas": "2.3.3"})
class FramesFlow(FlowSpec):
    """A pandas DataFrame read by a Rust step as Arrow record batches, a
    numpy array read by a Go step, and the table the Rust step writes read
    back in Python as a DataFrame."""

    @step
    def start(self):
        import readings

        self.readings = readings.make()
        # One column as a plain numpy array, for the Go step.
        self.temperatures = self.readings["temperature"].to_numpy()
        self.next(self.summarize)

    @step
    def end(self):
        # The Rust step's Arrow table, as a DataFrame.
        for row in self.summary.itertuples():
            print(f"{row.city}: {row.readings} readings, mean {row.mean_temperature:.3f}")
        print(f"spread {self.spread:.2f}")


if __name__ == "__main__":
    FramesFlow()
