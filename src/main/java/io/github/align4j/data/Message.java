package io.github.align4j.data;

/**
 * One chat message, as Hugging Face chat templates see it: a dict with {@code role} and {@code
 * content}.
 *
 * @param role "system", "user", "assistant" (or "tool" etc.: whatever the template understands)
 * @param content the text of the message
 */
public record Message(String role, String content) {

    /** A {@code system} message. */
    public static Message system(String content) {
        return new Message("system", content);
    }

    /** A {@code user} message. */
    public static Message user(String content) {
        return new Message("user", content);
    }

    /** An {@code assistant} message. */
    public static Message assistant(String content) {
        return new Message("assistant", content);
    }
}
