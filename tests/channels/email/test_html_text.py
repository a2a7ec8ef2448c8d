"""HTML bodies shown to agents as text: readable, and never active."""

from __future__ import annotations

from kefu.channels.email.html_text import html_to_text


def test_scripts_styles_and_head_are_dropped() -> None:
    html = ("<html><head><title>t</title><style>.a{}</style></head><body>"
            "<script>alert(document.cookie)</script><p>hello</p>"
            "<noscript>enable js</noscript></body></html>")
    assert html_to_text(html) == "hello"


def test_links_keep_their_target_but_not_javascript() -> None:
    html = ('<a href="https://example.cn/x">bill</a> <a href="javascript:evil()">x</a> '
            '<a href="mailto:help@example.cn">help@example.cn</a> <a href="https://a.cn">https://a.cn</a>')
    assert html_to_text(html) == "bill (https://example.cn/x) x help@example.cn https://a.cn"


def test_entities_are_decoded_and_blocks_become_lines() -> None:
    html = "<div>A&nbsp;&amp;&#32;B&lt;3</div><div>second&hellip;</div><br/>third"
    assert html_to_text(html) == "A & B<3\nsecond…\n\nthird"


def test_lists_tables_and_images() -> None:
    html = ('<ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table>'
            '<img src="cid:x" alt="meter photo">')
    assert html_to_text(html) == "- one\n- two\n\na b\n\n[meter photo]"


def test_unclosed_script_swallows_nothing_after_the_body_ends() -> None:
    assert html_to_text("<p>keep</p><script>never shown") == "keep"
