package io.github.align4j.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.Sources.Limits;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.function.Consumer;

/**
 * The Parquet reader of {@link Sources}: DuckDB's JDBC driver (an optional dependency, loaded only
 * when a Parquet file is read) streams each row as one JSON object, with extension autoloading and
 * autoinstalling off so that nothing is ever downloaded. Rows are numbered from 0; a row whose JSON
 * is longer than the cap is a bad row.
 */
final class ParquetRows {
    private ParquetRows() {}


    static final String DUCKDB_DRIVER = "org.duckdb.DuckDBDriver";

    /** Loads the JDBC driver class, or explains how to add it. */
    static void requireDriver(Path f, String driverClass) {
        try {
            Class.forName(driverClass);
        } catch (ClassNotFoundException e) {
            throw new Align4jException(f + ": reading Parquet needs DuckDB's JDBC driver, which is not on the class "
                    + "path. Add the Maven dependency org.duckdb:duckdb_jdbc:1.4.4.0 to your build (or put "
                    + "duckdb_jdbc-1.4.4.0.jar on the class path), or convert the file to JSON Lines.");
        }
    }

    static void read(Path f, Limits limits, long[] index, Consumer<RawRow> sink) {
        requireDriver(f, DUCKDB_DRIVER);
        long row = 0;
        java.util.Properties props = new java.util.Properties();
        props.setProperty("jdbc_stream_results", "true"); // fetch rows chunk by chunk, not the whole file at once
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:", props)) {
            try (Statement s = c.createStatement()) {
                s.execute("SET autoinstall_known_extensions = false"); // never download anything
                s.execute("SET autoload_known_extensions = false");
                s.execute("SET preserve_insertion_order = true");
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT to_json(t)::VARCHAR FROM read_parquet(?) t")) {
                ps.setString(1, f.toAbsolutePath().toString());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String where = "row " + row++;
                        String json = rs.getString(1);
                        if (json != null && json.length() > limits.maxRowBytes()) { // chars <= UTF-8 bytes
                            Sources.tooLong(f, where, "the row (as JSON)", json.length(), limits, index, sink, false);
                            continue;
                        }
                        JsonNode node;
                        try {
                            node = Sources.JSON.readTree(json);
                        } catch (JsonProcessingException e) {
                            sink.accept(new RawRow(f, where, index[0]++, null,
                                    "DuckDB returned a row that is not JSON: " + Sources.jsonProblem(e), false));
                            continue;
                        }
                        sink.accept(new RawRow(f, where, index[0]++, node, null, false));
                    }
                }
            }
        } catch (SQLException e) {
            throw new Align4jException(f + (row > 0 ? " row " + row : "") + ": cannot read the Parquet file: "
                    + e.getMessage(), e);
        }
    }
}
