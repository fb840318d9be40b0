from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={"tzdata": "2025.2", "pytz": "2025.2"})
class PackageDataFlow(FlowSpec):
    """Packages that read their own files when first called: zone files
    (zoneinfo through tzdata, and pytz) and installed metadata."""

    @step
    def start(self):
        import datetime
        import importlib.metadata
        import zoneinfo

        import pytz

        moment = datetime.datetime(2024, 7, 1, 12, 0)
        new_york = moment.replace(tzinfo=zoneinfo.ZoneInfo("America/New_York"))
        self.new_york_offset = new_york.utcoffset().total_seconds() / 3600
        self.tokyo_offset = (
            pytz.timezone("Asia/Tokyo").localize(moment).utcoffset().total_seconds() / 3600
        )
        self.tzdata_version = importlib.metadata.version("tzdata")
        # The files are the component's own, and read-only.
        try:
            with open("/0/tzdata/zones", "a") as f:
                f.write("x")
            self.write_refused = False
        except OSError:
            self.write_refused = True
        self.next(self.end)

    @step
    def end(self):
        print("offsets", self.new_york_offset, self.tokyo_offset, "tzdata", self.tzdata_version)
