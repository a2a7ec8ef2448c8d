"""The public page that stands for a tenant's website with the chat widget on it."""

from __future__ import annotations

from typing import Any


def test_the_demo_page_embeds_the_widget_with_the_key_asked_for(web: Any) -> None:
    page = web().get("/chat/demo?key=acme-widget&lang=zh")
    assert page.status_int == 200
    assert 'src="http://localhost/chat/widget.js" data-key="acme-widget"' in page.text
    assert 'data-locale="zh_CN"' in page.text


def test_the_key_cannot_inject_markup(web: Any) -> None:
    page = web().get('/chat/demo', params={"key": '"><script>alert(1)</script>'})
    assert "<script>alert(1)</script>" not in page.text
    assert "&#34;&gt;&lt;script&gt;" in page.text or "&quot;&gt;&lt;script&gt;" in page.text
