"""The official OpenAI Python SDK against a running gateway (PURSER_BASE): completion, stream
with usage, tool-call round trip, JSON mode, error classes, embeddings. Exits non-zero on a
mismatch."""
import json, os, sys, openai
from openai import OpenAI
c = OpenAI(base_url=os.environ["PURSER_BASE"] + "/v1", api_key="sk-anything")
failures = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)

r = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role":"user","content":"Say hello"}])
check(r.model == "gpt-4o-mini" and r.usage.total_tokens > 0, "plain completion")
chunks = list(c.chat.completions.create(model="purser/auto", stream=True, stream_options={"include_usage": True}, messages=[{"role":"user","content":"Count to five"}]))
check(len(chunks) > 2 and chunks[-1].usage.total_tokens > 0, "stream with usage")
tools=[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]
r = c.chat.completions.create(model="gpt-4o-mini", tools=tools, tool_choice="required", messages=[{"role":"user","content":"weather in Paris?"}])
call = r.choices[0].message.tool_calls[0]
check(call.function.name == "get_weather" and "city" in json.loads(call.function.arguments), "tool call")
r2 = c.chat.completions.create(model="gpt-4o-mini", tools=tools, messages=[{"role":"user","content":"weather in Paris?"}, r.choices[0].message, {"role":"tool","tool_call_id":call.id,"content":"21C"}])
check(r2.choices[0].finish_reason == "stop", "tool round trip")
r = c.chat.completions.create(model="gpt-4o-mini", response_format={"type":"json_object"}, messages=[{"role":"user","content":"json"}])
check(isinstance(json.loads(r.choices[0].message.content), dict), "JSON mode")
expected = {"unknown model": (404, "model_not_found"), "bad type": (400, "invalid_value"), "big body": (413, "request_too_large")}
for name, fn in [("unknown model", lambda: c.chat.completions.create(model="nope", messages=[{"role":"user","content":"x"}])),
                 ("bad type", lambda: c.chat.completions.create(model="gpt-4o-mini", messages=[{"role":"user","content":"x"}], temperature="hot")),
                 ("big body", lambda: c.chat.completions.create(model="gpt-4o-mini", messages=[{"role":"user","content":"a"*(50*1024*1024)}]))]:
    try:
        fn(); check(False, name + " gave no error")
    except openai.APIStatusError as e:
        code = e.body.get("code") if isinstance(e.body, dict) else None
        check((e.status_code, code) == expected[name], f"{name}: {e.status_code} {code}")
    except Exception as e:
        check(False, f"{name}: {type(e).__name__} {e}")
e = c.embeddings.create(model="text-embedding-3-small", input=["a","b"])
check(len(e.data) == 2 and len(e.data[0].embedding) == 1536, "embeddings")
sys.exit(1 if failures else 0)
