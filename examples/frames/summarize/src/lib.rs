//! The Rust step of the frames flow: reads the pandas DataFrame the Python
//! start step stored as Arrow record batches, and writes a summary table
//! (one row per city) that the Python end step reads as a DataFrame.

use std::collections::BTreeMap;
use std::sync::Arc;

use mfw::ArrowTable;
use mfw::arrow_array::cast::AsArray;
use mfw::arrow_array::types::Float64Type;
use mfw::arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use mfw::prelude::*;

/// The Rust part of FramesFlow.
#[derive(FlowSpec)]
pub struct FramesSummarize;

#[steps(external = ["spread"])]
impl FramesSummarize {
    /// Per city: how many readings, their mean temperature, rainy hours.
    #[step]
    fn summarize(&self, cx: &mut Context) -> StepResult {
        let readings: ArrowTable = cx.get("readings")?;
        let (schema, batches) = readings.record_batches()?;
        let column = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| Error::msg(format!("the readings have no `{name}` column")))
        };
        let (city, temperature, rain) = (column("city")?, column("temperature")?, column("rain")?);
        // city -> (readings, temperature sum, rainy hours)
        let mut by_city: BTreeMap<String, (i64, f64, i64)> = BTreeMap::new();
        for batch in &batches {
            let cities = batch.column(city).as_string::<i64>();
            let temperatures = batch.column(temperature).as_primitive::<Float64Type>();
            let rains = batch.column(rain).as_boolean();
            for row in 0..batch.num_rows() {
                let entry = by_city.entry(cities.value(row).to_string()).or_default();
                entry.0 += 1;
                entry.1 += temperatures.value(row);
                entry.2 += i64::from(rains.value(row));
            }
        }
        let summary = RecordBatch::try_from_iter([
            (
                "city",
                Arc::new(StringArray::from_iter_values(by_city.keys())) as ArrayRef,
            ),
            (
                "readings",
                Arc::new(Int64Array::from_iter_values(by_city.values().map(|v| v.0))),
            ),
            (
                "mean_temperature",
                Arc::new(Float64Array::from_iter_values(
                    by_city.values().map(|v| v.1 / v.0 as f64),
                )),
            ),
            (
                "rainy_hours",
                Arc::new(Int64Array::from_iter_values(by_city.values().map(|v| v.2))),
            ),
        ])?;
        let table = ArrowTable::from_record_batches(&summary.schema(), &[summary])?;
        cx.set_value("summary", &table.to_value())?;
        cx.next("spread")
    }
}
