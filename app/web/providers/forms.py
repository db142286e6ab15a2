from urllib.parse import quote

from flask_wtf import FlaskForm
from wtforms import BooleanField, FloatField, IntegerField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from app.delivery.transport import SmtpSettings

SECURITY = [
    SelectChoice("starttls", "STARTTLS · port 587"),
    SelectChoice("tls", "TLS · port 465"),
    SelectChoice("none", "None · port 25, unencrypted"),
]


class ProviderForm(FlaskForm):
    """The SMTP URL in its parts; the password field is left empty to keep the stored one."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    host = StringField(
        "Host",
        validators=[DataRequired(), Length(max=255), Regexp(r"^[A-Za-z0-9.\-:\[\]]+$", message="Enter a host name.")],
    )
    port = IntegerField("Port", validators=[Optional()])
    security = SelectField("Security", choices=SECURITY, default="starttls")
    username = StringField("Username", validators=[Optional(), Length(max=255)])
    password = PasswordField("Password", validators=[Optional(), Length(max=255)])
    priority = IntegerField("Priority", validators=[InputRequired()], default=0)
    weight = IntegerField("Weight", validators=[InputRequired()], default=1)
    max_per_second = FloatField("Max messages per second", validators=[Optional()])
    daily_cap = IntegerField("Daily cap", validators=[Optional()])
    warmup = StringField("Warm-up schedule", validators=[Optional(), Length(max=4000)])
    enabled = BooleanField("Enabled", default=True)
    restart_warmup = BooleanField("Restart the warm-up today")

    def fill_from_url(self, url: str) -> None:
        """Show a stored URL in the form's fields, all but its password."""
        settings = SmtpSettings.from_url(url)
        self.host.data, self.port.data = settings.host, settings.port
        self.security.data, self.username.data = settings.security, settings.username

    def smtp_url(self, stored_password: str | None = None) -> str:
        """The URL these fields describe; an empty password keeps ``stored_password``."""
        host = self.host.data.strip()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        auth = ""
        if self.username.data:
            password = self.password.data or stored_password
            auth = quote(self.username.data, safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
        port = f":{self.port.data}" if self.port.data else ""
        return f"smtp://{auth}{host}{port}?security={self.security.data}"

    def data_for_service(self, stored_password: str | None = None) -> dict:
        return {
            "name": self.name.data,
            "smtp_url": self.smtp_url(stored_password),
            "priority": self.priority.data,
            "weight": self.weight.data,
            "max_per_second": self.max_per_second.data,
            "daily_cap": self.daily_cap.data,
            "warmup": self.warmup.data or None,
            "enabled": self.enabled.data,
        }
