from mfw import FlowSpec, grant, pypi_base, step


@pypi_base(packages={"pandas": "2.3.3"})
class NativeKernelsBench(FlowSpec):
    """Times numpy and pandas kernels inside a component (benches/native.sh)."""

    # The real clock: timing is the point of this step.
    @grant(clock=True)
    @step
    def start(self):
        import kernels

        self.timings = kernels.timings()
        self.next(self.end)

    @step
    def end(self):
        pass
