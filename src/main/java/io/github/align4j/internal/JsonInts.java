package io.github.align4j.internal;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;

/**
 * Whole numbers from untrusted JSON or YAML. Jackson's {@code asInt()} and {@code canConvertToInt()}
 * take 4.9 as 4 and a string as 0; here 4.9 is no integer and one beyond the range says so. Not
 * part of align4j's API.
 */
public final class JsonInts {
    private JsonInts() {}

    /**
     * {@code v} as an int in [min, max].
     *
     * @param where what the value is, e.g. "sweep.yaml: seeds", first in the message
     * @throws Align4jException "must be an integer" for anything but an integral number (4.9, 4.0,
     *     "4"), "out of range [min, max]" for an integer outside it
     */
    public static int of(JsonNode v, String where, int min, int max) {
        if (v == null || !v.isIntegralNumber()) {
            throw new Align4jException(where + " must be an integer in [" + min + ", " + max + "], got "
                    + (v == null ? "nothing" : v.isNumber() ? v.asText() : "a " + v.getNodeType().name().toLowerCase(java.util.Locale.ROOT)));
        }
        if (!v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw new Align4jException(where + " is " + v.asText() + ", out of range [" + min + ", " + max + "]");
        }
        return v.asInt();
    }

    /** {@link #of}, or {@code dflt} when the key is absent or null. */
    public static int of(JsonNode parent, String key, String where, int dflt, int min, int max) {
        JsonNode v = parent == null ? null : parent.get(key);
        return v == null || v.isNull() ? dflt : of(v, where, min, max);
    }
}
