from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Type your current password."), Length(max=1024)]
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a new password."), Length(max=1024)],
        description="At least 10 characters. Your other sessions end; this one stays.",
    )
    new_password_again = PasswordField(
        "New password again",
        validators=[DataRequired("Type it again."), EqualTo("new_password", "The two passwords differ.")],
    )


class TwoFactorForm(FlaskForm):
    """Turning two-factor login on or off: both take the password and a current code."""

    password = PasswordField("Password", validators=[DataRequired("Type your password."), Length(max=1024)])
    code = StringField("Code from the app", validators=[DataRequired("Type the 6-digit code."), Length(max=20)])
