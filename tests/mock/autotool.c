/* Scripted tool use (autotool.h). jansson: this runs only for "autotool" models. */
#include <jansson.h>
#include <string.h>

#include "autotool.h"
#include "sluice/base.h"

#define REPLY_PREFIX "The tool said: "

static struct sl_str copy(mock_alloc_fn *alloc, void *ud, const char *s, size_t n)
{
    char *p = alloc(ud, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return sl_str_init(p, n);
}

/* {"<property>": value, ...} for the schema's properties, by their type. */
static struct sl_str args_for(json_t *schema, mock_alloc_fn *alloc, void *ud)
{
    json_t *args = json_object(), *props = json_object_get(schema, "properties"), *p;
    const char *name;
    json_object_foreach(props, name, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        json_t *v = type == NULL                   ? json_null()
                    : strcmp(type, "string") == 0  ? json_string("Paris")
                    : strcmp(type, "integer") == 0 ? json_integer(1)
                    : strcmp(type, "number") == 0  ? json_integer(1)
                    : strcmp(type, "boolean") == 0 ? json_true()
                    : strcmp(type, "array") == 0   ? json_array()
                    : strcmp(type, "object") == 0  ? json_object()
                                                   : json_null();
        json_object_set_new(args, name, v);
    }
    char *text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    struct sl_str out = copy(alloc, ud, text, strlen(text));
    free(text);
    json_decref(args);
    return out;
}

/* The first function tool: its name and parameter schema. */
static bool first_tool(enum at_wire wire, json_t *body, const char **name, json_t **schema)
{
    json_t *tools = json_object_get(body, "tools"), *t;
    size_t i;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = wire == AT_CHAT ? json_object_get(t, "function") : t;
        const char *type = json_string_value(json_object_get(t, "type"));
        if (wire != AT_ANTHROPIC && (type == NULL || strcmp(type, "function") != 0))
            continue;
        *name = json_string_value(json_object_get(fn, "name"));
        *schema = json_object_get(fn, wire == AT_ANTHROPIC ? "input_schema" : "parameters");
        if (*name != NULL)
            return true;
    }
    return false;
}

/* Text of a tool result's content: a string, or the text of its parts. */
static void append_text(json_t *content, json_t *into)
{
    json_t *part;
    size_t i;
    if (json_is_string(content)) {
        json_string_set(into, (char *)json_string_value(content));
        return;
    }
    json_array_foreach(content, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t != NULL) {
            json_string_set(into, t);
            return;
        }
    }
}

/* The last turn's tool result, when the last turn is one. */
static json_t *last_result(enum at_wire wire, json_t *body)
{
    json_t *result = json_string("");
    if (wire == AT_RESPONSES) {
        json_t *in = json_object_get(body, "input");
        json_t *last = json_array_get(in, json_array_size(in) - 1);
        const char *type = json_string_value(json_object_get(last, "type"));
        if (last != NULL && type != NULL && strcmp(type, "function_call_output") == 0) {
            append_text(json_object_get(last, "output"), result);
            return result;
        }
    } else {
        json_t *msgs = json_object_get(body, "messages");
        json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
        const char *role = json_string_value(json_object_get(last, "role"));
        json_t *content = json_object_get(last, "content"), *block;
        size_t i;
        if (wire == AT_CHAT && role != NULL && strcmp(role, "tool") == 0) {
            append_text(content, result);
            return result;
        }
        json_array_foreach(wire == AT_ANTHROPIC ? content : NULL, i, block)
        {
            const char *type = json_string_value(json_object_get(block, "type"));
            if (type != NULL && strcmp(type, "tool_result") == 0) {
                append_text(json_object_get(block, "content"), result);
                return result;
            }
        }
    }
    json_decref(result);
    return NULL;
}

bool at_plan(enum at_wire wire, struct sl_str body, mock_alloc_fn *alloc, void *ud,
             struct at_plan *out)
{
    json_t *b = json_loadb(body.ptr, body.len, 0, NULL), *schema = NULL, *result;
    const char *model = json_string_value(json_object_get(b, "model")), *name = NULL;
    bool ok =
        model != NULL && strncmp(model, "autotool", 8) == 0 && first_tool(wire, b, &name, &schema);
    *out = (struct at_plan){0};
    if (ok && (result = last_result(wire, b)) != NULL) {
        const char *said = json_string_value(result);
        size_t n = strlen(REPLY_PREFIX) + strlen(said);
        char *p = alloc(ud, n + 1);
        memcpy(p, REPLY_PREFIX, strlen(REPLY_PREFIX));
        memcpy(p + strlen(REPLY_PREFIX), said, strlen(said) + 1);
        out->reply = sl_str_init(p, n);
        json_decref(result);
    } else if (ok) {
        out->call = true;
        out->tool.name = copy(alloc, ud, name, strlen(name));
        out->tool.args = args_for(schema, alloc, ud);
    }
    json_decref(b);
    return ok;
}

void at_apply(struct mock_opts *o, const struct at_plan *plan, bool anthropic, mock_alloc_fn *alloc,
              void *ud)
{
    if (!plan->call) {
        o->reply = plan->reply;
        o->content_overridden = true;
        return;
    }
    struct mock_tool_call *t = alloc(ud, sizeof(*t));
    *t = plan->tool;
    if (anthropic) {
        o->tool_use = t;
        o->n_tool_use = 1;
    } else {
        o->tool_calls = t;
        o->n_tool_calls = 1;
    }
}
