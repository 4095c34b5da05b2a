package io.github.align4j.data.template;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.objects.SafeString;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.misc.NumberOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.TreeStore;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Cache;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstMethod;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstParameters;
import jinjava.de.odysseus.el.tree.impl.ast.AstProperty;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ExpressionFactory;
import jinjava.javax.el.PropertyNotFoundException;

/**
 * jinjava's expression parser with jinja2's place for {@code not}: below the comparisons, so that
 * {@code not '<<SYS>>' in content} means {@code not ('<<SYS>>' in content)} and {@code not a == b}
 * means {@code not (a == b)} (jinjava binds {@code not} to the next value, as Java's {@code !}).
 * Also as in Python: {@code a and b} gives the deciding operand, not a boolean; {@code +} adds numbers
 * and joins two strings or two lists, and anything else is an error (jinjava would print {@code
 * 'a' + None} as "anull"); calling a method on None or an undefined value is an error (jinjava
 * gives nothing).
 */
final class PyParser extends ExtendedParser {

    PyParser(Builder builder, String input) {
        super(builder, input);
    }

    /**
     * The expression factory of the chat template engine: jinjava's syntax with this parser, and
     * {@link PyTruth.Converter} for truth values.
     */
    static ExpressionFactory expressionFactory() {
        Builder builder = new PyBuilder(Builder.Feature.METHOD_INVOCATIONS, Builder.Feature.VARARGS);
        return new ExpressionFactoryImpl(new TreeStore(builder, new Cache(2000)), new PyTruth.Converter());
    }

    @Override
    protected AstNode add(boolean required) throws Scanner.ScanException, Parser.ParseException {
        AstNode v = mul(required);
        if (v == null) {
            return null;
        }
        while (true) {
            Scanner.Token token = getToken();
            if (token.getSymbol() == Scanner.Symbol.PLUS) {
                consumeToken();
                v = createAstBinary(v, mul(true), PY_ADD);
            } else if (token.getSymbol() == Scanner.Symbol.MINUS) {
                consumeToken();
                v = createAstBinary(v, mul(true), AstBinary.SUB);
            } else if (token.getSymbol() == Scanner.Symbol.EXTENSION
                    && getExtensionHandler(token).getExtensionPoint() == ExtensionPoint.ADD) {
                v = getExtensionHandler(consumeToken()).createAstNode(v, mul(true));
            } else {
                return v;
            }
        }
    }

    /**
     * A name the template writes: refused if it is one jinjava uses for its own objects ({@code
     * ____int3rpr3t3r____}, the interpreter, and {@code filter:x} / {@code exptest:x}), so that
     * only jinjava's parser can reach them. jinja2 has no such names ({@code ____int3rpr3t3r____}
     * is undefined in transformers) and no {@code ns:f(...)} calls, so {@code {a: f(x)}} is a dict.
     */
    @Override
    protected AstNode nonliteral() throws Scanner.ScanException, Parser.ParseException {
        if (getToken().getSymbol() != Scanner.Symbol.IDENTIFIER) {
            return super.nonliteral();
        }
        String name = consumeToken().getImage();
        if (name.equals(ExtendedParser.INTERPRETER) || name.indexOf(':') >= 0
                || name.startsWith(ExtendedParser.FILTER_PREFIX) || name.startsWith(ExtendedParser.EXPTEST_PREFIX)) {
            throw new PyError("'" + name + "' is undefined (it names jinjava's interpreter, which a chat"
                    + " template may not reach; transformers' jinja2 sandbox has no such variable either)");
        }
        if (getToken().getSymbol() == Scanner.Symbol.LPAREN) {
            return function(name, params());
        }
        return identifier(name);
    }

    @Override
    protected AstMethod createAstMethod(AstProperty property, AstParameters params) {
        return new PyAstMethod(property, params);
    }

    @Override
    protected AstNode and(boolean required) throws Scanner.ScanException, Parser.ParseException {
        AstNode v = not(required);
        if (v == null) {
            return null;
        }
        while (true) {
            Scanner.Token token = getToken();
            if (token.getSymbol() == Scanner.Symbol.AND) {
                consumeToken();
                v = createAstBinary(v, not(true), PY_AND);
            } else if (token.getSymbol() == Scanner.Symbol.EXTENSION
                    && getExtensionHandler(token).getExtensionPoint() == ExtensionPoint.AND) {
                v = getExtensionHandler(consumeToken()).createAstNode(v, not(true));
            } else {
                return v;
            }
        }
    }

    /** jinja2's not_expr: {@code 'not' not_expr | comparison}. */
    private AstNode not(boolean required) throws Scanner.ScanException, Parser.ParseException {
        if (getToken().getSymbol() == Scanner.Symbol.NOT) {
            consumeToken();
            return createAstUnary(not(true), AstUnary.NOT);
        }
        return eq(required);
    }

    /** Python's {@code and}: the left operand if it is false, else the right one. */
    private static final AstBinary.Operator PY_AND = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object l = left.eval(bindings, context);
            return PyTruth.of(l) ? right.eval(bindings, context) : l;
        }

        @Override
        public String toString() {
            return "and";
        }
    };

    private static final TypeConverter NUMBERS = new PyTruth.Converter();

    /** Python's {@code +}. */
    private static final AstBinary.Operator PY_ADD = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object l = left.eval(bindings, context);
            Object r = right.eval(bindings, context);
            if (isStr(l) && isStr(r)) {
                String a = PyObjects.str(l);
                String b = PyObjects.str(r);
                ChatTemplateInterpreter.budget().checkString((long) a.length() + b.length(), "'+'");
                return a + b;
            }
            if (l instanceof Collection<?> a && r instanceof Collection<?> b) {
                ChatTemplateInterpreter.budget().checkString((long) a.size() + b.size(), "'+' of two lists");
                List<Object> joined = new ArrayList<>(a);
                joined.addAll(b);
                return joined;
            }
            if (isNumber(l) && isNumber(r)) {
                return NumberOperations.add(NUMBERS, number(l), number(r));
            }
            if (isStr(l) || l instanceof Collection) {
                String type = isStr(l) ? "str" : "list";
                throw new PyError("can only concatenate " + type + " (not \"" + PyObjects.typeName(r)
                        + "\") to " + type);
            }
            throw new PyError("unsupported operand type(s) for +: '" + PyObjects.typeName(l) + "' and '"
                    + PyObjects.typeName(r) + "'");
        }

        private boolean isStr(Object o) {
            return o instanceof String || o instanceof SafeString;
        }

        private boolean isNumber(Object o) {
            return o instanceof Number || o instanceof Boolean;
        }

        private Object number(Object o) {
            return o instanceof Boolean b ? (b ? 1L : 0L) : o;
        }

        @Override
        public String toString() {
            return "+";
        }
    };

    /**
     * A method call that fails, as in jinja2, when the value it is called on is None or undefined;
     * jinjava's answers null, so {@code message.content.strip()} would print nothing for a message
     * without content.
     */
    private static final class PyAstMethod extends AstMethod {
        private final String name;

        PyAstMethod(AstProperty property, AstParameters params) {
            super(property, params);
            String text = property.toString(); // ". strip" for x.strip
            this.name = text.startsWith(". ") ? text.substring(2) : text;
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            try {
                return eval(bindings, context, false);
            } catch (PropertyNotFoundException e) {
                String message = e.getMessage();
                if (message != null && message.startsWith("Target unreachable, base expression")) {
                    throw new PyError("cannot call ." + name + "() on None or an undefined value");
                }
                throw e;
            }
        }
    }

    /** Builds {@link PyParser}s. */
    static final class PyBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        PyBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            checkCost(expression);
            return new PyParser(this, expression);
        }
    }

    /** The most token steps jinjava's parser may take looking for the ends of parentheses. */
    static final long MAX_LOOKAHEAD_COST = 50_000_000L;

    /**
     * Refuses an expression that jinjava's parser would take minutes to read: at every {@code (} it
     * looks ahead, one linked-list step per token, for the matching {@code )} (to tell a tuple from
     * a nested expression), so tens of thousands of nested parentheses cost O(n^3). Counted here in
     * one pass; real templates cost a few thousand steps.
     */
    static void checkCost(String expression) {
        List<Integer> tokens = new ArrayList<>();
        try {
            Scanner scanner = new com.hubspot.jinjava.el.ext.ExtendedScanner(expression) {};
            for (Scanner.Token t = scanner.next(); t.getSymbol() != Scanner.Symbol.EOF; t = scanner.next()) {
                tokens.add(t.getSymbol().ordinal());
            }
        } catch (Scanner.ScanException e) {
            return; // the parser reports it
        }
        int open = Scanner.Symbol.LPAREN.ordinal();
        int close = Scanner.Symbol.RPAREN.ordinal();
        java.util.ArrayDeque<Integer> stack = new java.util.ArrayDeque<>();
        long cost = 0;
        for (int i = 0; i < tokens.size(); i++) {
            if (tokens.get(i) == open) {
                stack.push(i);
            } else if (tokens.get(i) == close && !stack.isEmpty()) {
                long k = i - stack.pop();
                cost += k * k / 2;
            }
        }
        for (int start : stack) {
            long k = tokens.size() - start;
            cost += k * k / 2;
        }
        if (cost > MAX_LOOKAHEAD_COST) {
            throw ChatTemplateFailure.limit("nesting depth exceeded (an expression with parentheses nested too deeply"
                    + " or too long to parse: " + tokens.size() + " tokens); the limit is fixed, split the expression"
                    + " with {% set %}");
        }
    }
}
