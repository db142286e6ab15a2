from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Length

ROLE_CHOICES = [
    SelectChoice("marketer", "Marketer: lists, subscribers, campaigns, templates"),
    SelectChoice("support", "Support: reads the send log, timelines and subscribers; changes nothing"),
    SelectChoice("admin", "Admin: everything, including users and settings"),
]


class UserForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired("Enter an e-mail address."), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[DataRequired("Choose a password."), Length(max=1024)],
        description="At least 10 characters; give it to them privately.",
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default="marketer")
