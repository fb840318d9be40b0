"""Metaflow's S3 client over a run's own objects (`S3(run=self)`), as in
Metaflow's "Loading and storing data" guide; only the import line differs."""

import json

from mfw import S3, FlowSpec, step


class S3DemoFlow(FlowSpec):
    @step
    def start(self):
        with S3(run=self) as s3:
            message = json.dumps({"message": "hello world!"})
            url = s3.put("example_object", message)
            print("Message saved at", url)
        self.parts = ["a", "b"]
        self.next(self.fan, foreach="parts")

    @step
    def fan(self):
        with S3(run=self) as s3:
            s3.put(f"parts/{self.input}.txt", self.input.upper())
            s3.put_many([(f"parts/{self.input}.bin", self.input.encode() * 2)])
            # Both branches put this key: the join must not guess.
            s3.put("clash", self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        with S3(run=self) as s3:
            texts = [o for o in s3.get_recursive(["parts/"]) if o.key.endswith(".txt")]
            self.parts = sorted(o.text for o in texts)
            self.listing = [o.key for o in s3.list_paths()]
            try:
                s3.get("clash")
                self.clash = "read"
            except Exception as e:
                self.clash = str(e)
            s3.put("clash", "settled")
            self.settled = s3.get("clash").text
            self.message = json.loads(s3.get("example_object").text)["message"]
            self.missing = s3.get("nope", return_missing=True).exists
            try:
                s3.get("nope")
            except Exception as e:
                self.not_found = type(e).__name__
            try:
                self.no_path = s3.get("example_object").path
            except Exception as e:
                self.no_path = str(e)
        self.next(self.end)

    @step
    def end(self):
        with S3(run=self) as s3:
            self.urls = [o.url for o in s3.get_many(["example_object", "clash"])]
        try:
            S3(run="S3DemoFlow/1")
        except Exception as e:
            self.other_run = str(e)
        print("end sees", len(self.urls), "objects")


if __name__ == "__main__":
    S3DemoFlow()
