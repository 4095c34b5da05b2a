/**
 * Preference datasets: {@link io.github.align4j.data.PreferenceData} reads JSON Lines, JSON, CSV or
 * Parquet files in the common layouts (detected from the first row), renders chat templates, and
 * tokenizes and truncates as TRL does; {@link io.github.align4j.data.DataOptions} holds the
 * lengths and the token cache, and {@link io.github.align4j.data.Inspect} shows what the model will
 * see. Dataset files are untrusted input: a bad row is reported with its file and line.
 */
package io.github.align4j.data;
