from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ListForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    double_opt_in = BooleanField("Double opt-in (subscribers confirm by e-mail)", default=True)


class SubscriberForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    status = SelectField(
        "Status",
        choices=[
            SelectChoice("confirmed", "Confirmed"),
            SelectChoice("pending", "Pending (send a confirmation e-mail)"),
        ],
        default="confirmed",
    )
