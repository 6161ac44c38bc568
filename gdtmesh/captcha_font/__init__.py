"""The portal captcha's font: svg-captcha's glyph outlines and the layout it draws them in.

Shared by the connector's solver, which reads captchas, and the sandbox, which draws them: both
depend on this one description of the portal, never on each other.
"""
