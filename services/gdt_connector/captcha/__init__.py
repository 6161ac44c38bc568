"""The portal captcha: read it (`solve_captcha`) without OCR."""

from .solver import CaptchaError, CaptchaSolver, solve_captcha

__all__ = ["CaptchaError", "CaptchaSolver", "solve_captcha"]
