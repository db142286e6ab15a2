"""The campaign sandbox: allowed variables render, everything else fails safely, with its line."""

from __future__ import annotations

import os

import pytest

from app.delivery import personalise
from app.delivery.personalise import Attributes, Recipient, TemplateProblem
from app.delivery.render import inline_css
from app.models import BodyFormat
from app.services import personalise as checks
from app.services.errors import ValidationFailed

ADA = Recipient("Ada <Lovelace>", "ada@example.com", Attributes(plan="gold", seats=3))
CANARY = "canary-7f3e2b9d1c"


def fill(source: str, part: str = "text", recipient: Recipient = ADA) -> str:
    compiled = personalise.compile(source, part)
    return personalise.render(compiled, personalise.values(recipient, "Friends", "https://x.test/u/1"))


def test_allowed_variables_render():
    source = (
        "{{ subscriber.name }}|{{ subscriber.email }}|{{ subscriber.attributes.plan }}|"
        "{{ subscriber.attributes['seats'] + 1 }}|{{ list.name }}|{{ unsubscribe_url }}"
    )
    assert fill(source) == "Ada <Lovelace>|ada@example.com|gold|4|Friends|https://x.test/u/1"


def test_html_escapes_values_text_and_subject_do_not():
    assert fill("<p>{{ subscriber.name }}</p>", "html") == "<p>Ada &lt;Lovelace&gt;</p>"
    assert fill("Hi {{ subscriber.name }}", "subject") == "Hi Ada <Lovelace>"


def test_a_missing_attribute_renders_empty_or_its_default():
    bare = Recipient("Bo", "bo@example.com", Attributes())
    assert fill("[{{ subscriber.attributes.plan }}]", recipient=bare) == "[]"
    assert fill("{{ subscriber.attributes.plan | default('free') }}", recipient=bare) == "free"
    assert fill("{% if subscriber.attributes.plan %}paid{% else %}free{% endif %}", recipient=bare) == "free"


@pytest.mark.parametrize(
    "source,line,words",
    [
        ("Hello\n{{ subscribr.name }}", 2, "'subscribr' is not a variable"),
        ("{{ subscriber.nmae }}", 1, "subscriber has no 'nmae'"),
        ("{{ subscriber['emial'] }}", 1, "subscriber has no 'emial'"),
        ("{{ list.id }}", 1, "list has no 'id'"),
        ("a\nb\n{% if subscriber.name %}open", 3, "Unexpected end of template"),
        ("{{ subscriber.name }", 1, "unexpected '}'"),
    ],
)
def test_misspelt_names_and_syntax_errors_name_their_line(source, line, words):
    with pytest.raises(TemplateProblem) as caught:
        personalise.compile(source, "body")
    assert caught.value.line == line
    assert words in str(caught.value)
    assert f"on line {line}" in str(caught.value)


@pytest.mark.parametrize(
    "source",
    [
        "{{ config }}",
        "{{ config.SECRET_KEY }}",
        "{{ request.environ }}",
        "{{ self }}",
        "{{ self.__init__.__globals__ }}",
        "{{ lipsum() }}",
        "{{ range(10**9) | list }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ namespace }}",
        "{{ dict(a=1) }}",
        "{{ subscriber.__class__ }}",
        "{{ subscriber.__class__.__mro__[1].__subclasses__() }}",
        "{{ list.__class__.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ subscriber.name.__class__.__base__.__subclasses__() }}",
        "{{ subscriber.attributes.plan.__class__.__mro__ }}",
        "{{ (subscriber.name|attr('__class__')).__mro__ }}",
        "{{ subscriber.name.format.__globals__ }}",
        "{{ '{0.__class__}'.format(subscriber) }}",
        "{{ 'x' * 10**9 }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_tricks_fail_safely_and_reach_no_secret(app, monkeypatch, source):
    monkeypatch.setitem(app.config, "CANARY", CANARY)
    monkeypatch.setenv("POSTROOM_CANARY", CANARY)
    assert os.environ["POSTROOM_CANARY"] == CANARY
    with pytest.raises(TemplateProblem) as caught:
        fill(source, "html")
    assert CANARY not in str(caught.value) and app.config["SECRET_KEY"] not in str(caught.value)


def test_everything_a_template_can_see_holds_no_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "CANARY", CANARY)
    monkeypatch.setenv("POSTROOM_CANARY", CANARY)
    output = fill("{{ subscriber }} {{ list }} {{ subscriber.attributes }} {{ unsubscribe_url }}", "text")
    assert "Ada <Lovelace>" in output and "'plan': 'gold'" in output
    assert CANARY not in output and app.config["SECRET_KEY"] not in output


def test_attribute_tricks_on_custom_attributes_render_empty():
    # The attributes object answers only its keys: methods and dunders are missing keys.
    assert fill("[{{ subscriber.attributes.__class__ }}{{ subscriber.attributes.items }}]") == "[]"


def test_a_runtime_error_names_its_line():
    with pytest.raises(TemplateProblem) as caught:
        fill("one\ntwo\n{{ 1 / (subscriber.attributes.seats - 3) }}")
    assert caught.value.line == 3 and "division by zero" in str(caught.value)


def test_a_loop_cannot_grow_past_the_cap():
    looping = personalise.compile(
        "{% for a in subscriber.attributes.plan %}{% for b in subscriber.attributes.plan %}xxxxxxxx"
        "{% endfor %}{% endfor %}",
        "text",
    )
    big = Recipient("B", "b@example.com", Attributes(plan="y" * 2000))
    with pytest.raises(TemplateProblem, match="longer than 1000 characters"):
        personalise.render(looping, personalise.values(big, "L", "u"), limit=1000)


def test_only_the_unsubscribe_placeholder_keeps_the_plain_path():
    assert not personalise.is_template("<p>Bye: {{ unsubscribe_url }}</p>")
    assert personalise.is_template("{{unsubscribe_url}}")
    assert personalise.is_template("Hi {{ subscriber.name }}")
    assert personalise.is_template("{% if x %}{% endif %}")
    assert not personalise.is_template("a { color: red }")
    # Minified CSS writes "{#id": Jinja comments are "{## ##}" here, so it is not a template tag.
    assert not personalise.is_template("<style>@media (max-width:600px){#main{width:100%}}</style>")
    assert fill("a{## a note ##}b {#main}") == "ab {#main}"


def test_markdown_and_text_conversion_keep_template_tags_intact():
    body = (
        '# Hi {{ subscriber.name }}\n\n{{ subscriber.attributes.plan | default("free") }} & '
        "{% if subscriber.attributes.seats > 2 %}big{% endif %}\n\n[Leave]({{ unsubscribe_url }})\n"
    )
    html, text = checks.body_parts(body, BodyFormat.MARKDOWN)
    assert "<h1>Hi {{ subscriber.name }}</h1>" in html
    assert '{{ subscriber.attributes.plan | default("free") }} &amp; {% if subscriber.attributes.seats > 2 %}' in html
    assert '<a href="{{ unsubscribe_url }}">Leave</a>' in html
    assert '{{ subscriber.attributes.plan | default("free") }}' in text and "{{ unsubscribe_url }}" in text


def test_css_is_inlined_and_template_tags_survive_even_between_table_rows():
    html = (
        "<style>td { color: #c00 } @media (max-width: 600px) { td { color: blue } }</style>"
        "<table>{% if subscriber.attributes.plan %}<tr><td>{{ subscriber.attributes.plan }}</td></tr>{% endif %}"
        '</table><a href="https://example.com/?q={{ subscriber.email }}&amp;x=1">go</a>'
    )
    inlined = inline_css(html)
    assert '<td style="color: #c00;">{{ subscriber.attributes.plan }}</td>' in inlined
    assert inlined.index("{% if subscriber.attributes.plan %}") < inlined.index("<tr>") < inlined.index("{% endif %}")
    assert "@media (max-width: 600px)" in inlined  # kept in a style block for clients that read it
    assert 'href="https://example.com/?q={{ subscriber.email }}&amp;x=1"' in inlined
    assert inline_css("<p>no style block</p>") == "<p>no style block</p>"


def test_a_linked_stylesheet_is_never_fetched(app):
    # A closed port: fetching would fail loudly; the link is dropped without a request.
    inlined = inline_css('<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><style>p{color:red}</style><p>x</p>')
    assert '<p style="color: red;">x</p>' in inlined and "127.0.0.1:9" not in inlined


@pytest.mark.parametrize(
    "value,words",
    [
        ([1], "must be a JSON object"),
        ({"": 1}, "1 to 64 characters"),
        ({"plan": {"a": 1}}, "not a list or object"),
        ({"plan": ["a"]}, "not a list or object"),
        ({"plan": "a\x00b"}, "control characters"),
        ({f"k{i}": i for i in range(51)}, "more than 50"),
        ({"plan": "x" * 9000}, "the limit is 8192"),
        ({"n": float("nan")}, "finite"),
    ],
)
def test_attributes_are_validated(value, words):
    with pytest.raises(ValidationFailed, match=words):
        checks.attributes(value)


def test_valid_attributes_pass():
    value = {"plan": "gold", "seats": 3, "ratio": 0.5, "vip": True, "note": "line 1\nline 2", "gone": None}
    assert checks.attributes(value) == value
    assert checks.attributes(None) == {}
