"""Metaflow's train flow, unchanged but the import: a random forest per
size, fitted in parallel by scikit-learn inside sandboxed steps; the join
keeps the best. The forests are artifacts (pickled), so a notebook with
scikit-learn loads them: Flow('TrainFlow').latest_run['train'].task.data.model
"""

from data import make_data, rmse

from mfw import FlowSpec, conda_base, kubernetes, schedule, step


@conda_base(libraries={"scikit-learn": "1.9.1"})
@schedule(daily=True)
class TrainFlow(FlowSpec):
    @step
    def start(self):
        self.n_trees = [16, 32, 64]
        self.next(self.train, foreach="n_trees")

    @kubernetes(memory=64000)
    @step
    def train(self):
        from sklearn.ensemble import RandomForestRegressor

        X, y, X_test, y_test = make_data()
        model = RandomForestRegressor(n_estimators=int(self.input), random_state=0).fit(X, y)
        self.rmse = rmse(model, X_test, y_test)
        self.model = model
        self.next(self.join)

    @step
    def join(self, inputs):
        self.rmses = [i.rmse for i in inputs]
        self.best_rmse = min(self.rmses)
        self.next(self.end)

    @step
    def end(self):
        print(f"best rmse: {self.best_rmse:.6f}")


if __name__ == "__main__":
    TrainFlow()
