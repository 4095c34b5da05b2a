package io.github.align4j.data.template;

import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.util.ForLoop;
import java.beans.FeatureDescriptor;
import java.util.Iterator;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The first EL resolver of the chat template engine: it gives strings their Python methods (see
 * {@link PyStrings}) and Python indexing ({@code s[0]}, {@code s[-1]}), and refuses the {@code
 * loop} attributes that jinja2 has and jinjava lacks, instead of letting them render as nothing.
 * Everything else falls through to jinjava's own resolvers.
 */
final class PyStringResolver extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        String self = base instanceof String s ? s : base instanceof SafeString s ? s.getValue() : null;
        if (self == null || method == null) {
            return null;
        }
        Object result = PyStrings.call(self, method.toString(), params);
        if (result == PyStrings.NOT_A_METHOD) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        Long index = base instanceof String ? integer(property) : null;
        if (index != null) {
            String s = (String) base;
            context.setPropertyResolved(true);
            int length = s.codePointCount(0, s.length());
            if (index < 0) {
                index += length;
            }
            if (index < 0 || index >= length) {
                return null; // jinja2 gives Undefined for an index out of range
            }
            int at = s.offsetByCodePoints(0, index.intValue());
            return new String(Character.toChars(s.codePointAt(at)));
        }
        if (base instanceof ForLoop && property != null) {
            String name = property.toString();
            if (name.equals("previtem") || name.equals("nextitem") || name.equals("changed")) {
                throw new PyError("loop." + name + " is not supported by align4j's chat template engine"
                        + " (jinjava); rewrite the template with messages[loop.index0 - 1] or"
                        + " messages[loop.index0 + 1]");
            }
        }
        return null;
    }

    /** An integer index; jinjava hands the resolvers s[-1]'s index as the string "-1". */
    private static Long integer(Object property) {
        if (property instanceof Long || property instanceof Integer) {
            return ((Number) property).longValue();
        }
        if (property instanceof String p && p.matches("-?[0-9]{1,9}")) {
            return Long.parseLong(p);
        }
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
