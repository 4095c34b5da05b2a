/**
 * The Jinja2 chat-template sandbox: renders a model's {@code chat_template} with jinjava the way
 * transformers' jinja2 {@code ImmutableSandboxedEnvironment} does, with Python's semantics (truth
 * values, string methods, {@code raise_exception}) emulated here. A template is untrusted input: it
 * sees only plain values (no Java objects, methods or files), its loops, output and recursion are
 * bounded, and any error stops the render and becomes one {@code Align4jException} naming the
 * template. The public entry point is {@link io.github.align4j.data.ChatTemplate}; see
 * docs/reliability.md, section 10.
 */
package io.github.align4j.data.template;
