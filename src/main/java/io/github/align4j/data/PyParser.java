package io.github.align4j.data;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.TreeStore;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Cache;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ExpressionFactory;

/**
 * jinjava's expression parser with jinja2's place for {@code not}: below the comparisons, so that
 * {@code not '<<SYS>>' in content} means {@code not ('<<SYS>>' in content)} and {@code not a == b}
 * means {@code not (a == b)} (jinjava binds {@code not} to the next value, as Java's {@code !}).
 * Also {@code a and b} gives the deciding operand, as in Python, not a boolean.
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

    /** Builds {@link PyParser}s. */
    static final class PyBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        PyBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new PyParser(this, expression);
        }
    }
}
