from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class RegisterForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=10, max=1024)])


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Type the 6-digit code."), Length(max=20)])


class ForgotForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired("Enter your e-mail address."), Length(max=254)])


class NewPasswordForm(FlaskForm):
    new_password = PasswordField("New password", validators=[DataRequired("Choose a password."), Length(max=1024)])
    new_password_again = PasswordField(
        "New password again",
        validators=[DataRequired("Type it again."), EqualTo("new_password", "The two passwords differ.")],
    )
