/**
 * Small helpers that several align4j packages share (text, files). Not part of the API: public
 * only so that align4j's own packages can reach them; they may change in any release.
 */
package io.github.align4j.internal;
